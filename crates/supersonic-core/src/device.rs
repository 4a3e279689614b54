//! The device identity: a stable random id (kept in the data dir) and a user-editable name.
//! Every sync commit carries both in its trailers (`Sync-Device:`, `Sync-Device-Id:`), so every
//! device can tell who changed what.

use std::collections::BTreeMap;

use crate::paths::Dirs;
use crate::{Error, Result};

/// This device.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Device {
    /// Stable random id (16 hex digits).
    pub id: String,
    /// Human-readable name.
    pub name: String,
}

impl Device {
    /// Loads (or creates) the device id, and picks the name: `SUPERSONIC_DEVICE_NAME`, else the
    /// app config's `device.name`, else the host name.
    pub fn load(
        dirs: &Dirs,
        configured_name: Option<&str>,
        env: &BTreeMap<String, String>,
    ) -> Result<Device> {
        let id_file = dirs.data_dir.join("device-id");
        let id = match std::fs::read_to_string(&id_file) {
            Ok(id) if is_valid_id(id.trim()) => id.trim().to_string(),
            Ok(_) | Err(_) => {
                let id = format!("{:016x}", rand::random::<u64>());
                std::fs::create_dir_all(&dirs.data_dir)
                    .map_err(|e| Error::io(&dirs.data_dir, e))?;
                crate::paths::write_atomic(&id_file, id.as_bytes())?;
                id
            }
        };
        let name = env
            .get("SUPERSONIC_DEVICE_NAME")
            .map(String::as_str)
            .or(configured_name)
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .or_else(|| nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()))
            .unwrap_or_else(|| "device".to_string());
        Ok(Device { id, name })
    }
}

fn is_valid_id(id: &str) -> bool {
    id.len() == 16 && id.chars().all(|c| c.is_ascii_hexdigit())
}

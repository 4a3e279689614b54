//! Automatic merges of two versions: a line union without duplicated lines, and a structural
//! union of JSON documents. Pure functions of the three versions.

/// Removes lines that a union merge duplicated: each line may appear at most as often as it
/// appears in the side that has it most, so real repeated lines (blank lines, `}`) survive.
pub fn drop_union_duplicates(merged: &[u8], ours: &[u8], theirs: &[u8]) -> Vec<u8> {
    use std::collections::HashMap;
    fn counts(text: &[u8]) -> HashMap<&[u8], usize> {
        let mut m = HashMap::new();
        for line in text.split_inclusive(|&b| b == b'\n') {
            *m.entry(trim_eol(line)).or_insert(0) += 1;
        }
        m
    }
    fn trim_eol(line: &[u8]) -> &[u8] {
        line.strip_suffix(b"\n").map(|l| l.strip_suffix(b"\r").unwrap_or(l)).unwrap_or(line)
    }
    let (o, t) = (counts(ours), counts(theirs));
    let mut seen: HashMap<&[u8], usize> = HashMap::new();
    let mut out = Vec::with_capacity(merged.len());
    for line in merged.split_inclusive(|&b| b == b'\n') {
        let key = trim_eol(line);
        let allowed = o.get(key).copied().unwrap_or(0).max(t.get(key).copied().unwrap_or(0)).max(1);
        let n = seen.entry(key).or_insert(0);
        *n += 1;
        if *n <= allowed {
            out.extend_from_slice(line);
            if !line.ends_with(b"\n") && !out.is_empty() && merged.ends_with(b"\n") {
                out.push(b'\n');
            }
        }
    }
    out
}

/// Merges two JSON documents structurally (objects key by key, arrays unioned without
/// duplicates, scalars three-way against `base`). Returns None when a side does not parse or a
/// key truly collides (both sides changed it differently).
pub fn merge_json_bytes(base: Option<&[u8]>, ours: &[u8], theirs: &[u8]) -> Option<Vec<u8>> {
    let o: serde_json::Value = serde_json::from_slice(ours).ok()?;
    let t: serde_json::Value = serde_json::from_slice(theirs).ok()?;
    let b: Option<serde_json::Value> = base.and_then(|b| serde_json::from_slice(b).ok());
    let merged = merge_json(b.as_ref(), &o, &t)?;
    let mut text = serde_json::to_vec_pretty(&merged).ok()?;
    if ours.ends_with(b"\n") {
        text.push(b'\n');
    }
    Some(text)
}

/// Merges JSON values; see [`merge_json_bytes`].
pub fn merge_json(
    base: Option<&serde_json::Value>,
    ours: &serde_json::Value,
    theirs: &serde_json::Value,
) -> Option<serde_json::Value> {
    use serde_json::Value;
    if ours == theirs {
        return Some(ours.clone());
    }
    match (ours, theirs) {
        (Value::Object(o), Value::Object(t)) => {
            let b = base.and_then(Value::as_object);
            let mut out = serde_json::Map::new();
            for (k, ov) in o {
                let bv = b.and_then(|b| b.get(k));
                match t.get(k) {
                    Some(tv) => out.insert(k.clone(), merge_json(bv, ov, tv)?),
                    // Removed there: keep it only if we changed it (a deletion of an unchanged
                    // key is honoured; a changed one survives).
                    None if bv.is_some_and(|bv| bv == ov) => None,
                    None => out.insert(k.clone(), ov.clone()),
                };
            }
            for (k, tv) in t {
                if o.contains_key(k) {
                    continue;
                }
                let bv = b.and_then(|b| b.get(k));
                if bv.is_some_and(|bv| bv == tv) {
                    continue; // removed here, unchanged there
                }
                out.insert(k.clone(), tv.clone());
            }
            Some(Value::Object(out))
        }
        (Value::Array(o), Value::Array(t)) => {
            let mut out: Vec<Value> = Vec::with_capacity(o.len() + t.len());
            for v in o.iter().chain(t.iter()) {
                if !out.contains(v) {
                    out.push(v.clone());
                }
            }
            Some(Value::Array(out))
        }
        _ => match base {
            Some(b) if b == ours => Some(theirs.clone()),
            Some(b) if b == theirs => Some(ours.clone()),
            _ => None, // both changed the same scalar differently: a true collision
        },
    }
}

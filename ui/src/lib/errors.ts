// What the user can do about an error, by its code (never by its message text).

/** Returns the fix for an error code in words, or null when the message says it all. */
export function fixFor(code: string | undefined | null): string | null {
  switch (code) {
    case "remote_needs_attention":
      return "The remote is not usable from this device. Check the remote URL (does the repository exist?) and your SSH key or access token, then press Sync now.";
    case "remote_unreachable":
      return "The remote cannot be reached right now. Check your network; Supersonic retries by itself.";
    case "remote_timeout":
      return "The remote did not answer in time. Supersonic retries by itself; on a slow link raise the network timeout in Settings.";
    case "folder_stopped":
      return "Syncing stopped to protect your files. Fix what the message names (folder missing, mass delete, disk full, a git operation of yours in progress), then press Sync now.";
    case "needs_user":
      return "Supersonic waits for your decision before it goes on. Follow the message, then press Sync now.";
    case "busy":
      return "Another program is using the repository (git, or another Supersonic). Supersonic retries when it is done.";
    case "worktree_changed":
      return "A file changed while Supersonic was writing it. Nothing was overwritten; look again and retry.";
    case "io_failed":
      return "A file could not be read or written. Check the folder's permissions and free disk space.";
    case "git_failed":
      return "The folder's git repository has a problem. Run `git status` in the folder to see what git says.";
    case "config_invalid":
      return "The configuration is invalid. Fix the key named in the message in Settings or in the config file.";
    case "token_missing":
    case "token_invalid":
      return "Open the link that `supersonic serve` printed (it carries the access token).";
    case "network":
      return "The Supersonic server does not answer. Is `supersonic serve` still running?";
    default:
      return null;
  }
}

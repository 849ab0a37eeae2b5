//! Reloads when the config file changes on disk. The file is polled (a `stat` twice a
//! second): it works the same for editors that write in place, for `mv` of a new file over the
//! old one and for symlink swaps (Kubernetes ConfigMaps), with nothing to set up. A change is
//! acted on once the file has stayed the same for one more poll, so a file caught half-written
//! is not loaded.

use super::{Reloader, Trigger};
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const POLL: Duration = Duration::from_millis(500);

/// What identifies a version of the file without reading it: modification time, size, inode
/// and device (a rename over it changes the inode even within one second).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    modified_ns: i128,
    len: u64,
    inode: u64,
    device: u64,
}

impl FileStamp {
    /// The file's stamp; none while it does not exist.
    pub fn of(path: &Path) -> Option<FileStamp> {
        let m = std::fs::metadata(path).ok()?;
        Some(FileStamp {
            modified_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
            len: m.len(),
            inode: m.ino(),
            device: m.dev(),
        })
    }
}

/// Decides, poll by poll, when a changed file is ready to load: after it differs from the one
/// last acted on and has not changed since the previous poll.
#[derive(Debug)]
pub struct Debounce<T> {
    acted_on: T,
    pending: Option<T>,
}

impl<T: PartialEq + Copy> Debounce<T> {
    pub fn new(current: T) -> Self {
        Debounce {
            acted_on: current,
            pending: None,
        }
    }

    /// Feeds one poll; true when it is time to act on `seen`.
    pub fn poll(&mut self, seen: T) -> bool {
        if seen == self.acted_on {
            self.pending = None;
            return false;
        }
        if self.pending == Some(seen) {
            self.acted_on = seen;
            self.pending = None;
            return true;
        }
        self.pending = Some(seen);
        false
    }
}

pub struct ConfigWatch {
    reloader: Arc<Reloader>,
}

impl ConfigWatch {
    pub fn new(reloader: Arc<Reloader>) -> ConfigWatch {
        ConfigWatch { reloader }
    }
}

#[async_trait]
impl BackgroundService for ConfigWatch {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let Some(path) = self.reloader.path().map(Path::to_owned) else {
            return;
        };
        let mut debounce = Debounce::new(FileStamp::of(&path));
        loop {
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = shutdown.changed() => return,
            }
            if debounce.poll(FileStamp::of(&path)) {
                self.reloader.reload(Trigger::FileChange).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_is_acted_on_once_it_holds_still() {
        // (poll, act?) for a file at version 0 that goes through 1 (being written), 2, back.
        let polls = [
            (0, false),
            (1, false), // changed: wait one poll
            (2, false), // changed again while being written: wait again
            (2, true),  // still 2: load it
            (2, false), // acted on already
            (2, false),
            (0, false), // changed back (a revert)
            (0, true),
            (3, false), // a blip that reverts before the next poll is ignored
            (0, false),
            (0, false),
        ];
        let mut debounce = Debounce::new(0);
        for (i, (seen, act)) in polls.iter().enumerate() {
            assert_eq!(debounce.poll(*seen), *act, "poll {i} saw {seen}");
        }
    }

    #[test]
    fn a_missing_file_is_a_version_too() {
        let mut debounce = Debounce::new(Some(1));
        assert!(!debounce.poll(None));
        assert!(
            debounce.poll(None),
            "reported (and rejected) once, not each poll"
        );
        assert!(!debounce.poll(None));
        assert!(!debounce.poll(Some(2)));
        assert!(debounce.poll(Some(2)));
    }
}

//! Tasks run side by side, so that one that panics is known by its key.

use std::collections::HashMap;

use tokio::task::JoinSet;

/// A task that panicked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Panicked;

/// Tasks run side by side, each with the key it is for, so that one that panics is known by
/// its key (tokio catches the panic at the task's edge) instead of being an error of all.
pub struct Isolated<K, T> {
    tasks: JoinSet<T>,
    keys: HashMap<tokio::task::Id, K>,
}

impl<K, T> Default for Isolated<K, T> {
    fn default() -> Self {
        Isolated {
            tasks: JoinSet::new(),
            keys: HashMap::new(),
        }
    }
}

impl<K, T: Send + 'static> Isolated<K, T> {
    pub fn spawn(&mut self, key: K, task: impl std::future::Future<Output = T> + Send + 'static) {
        let handle = self.tasks.spawn(task);
        self.keys.insert(handle.id(), key);
    }

    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// The next task to finish, with its key; `None` when none are left. A cancelled task
    /// (only on runtime shutdown) is skipped.
    pub async fn join_next(&mut self) -> Option<(K, Result<T, Panicked>)> {
        loop {
            let done = self.tasks.join_next_with_id().await?;
            let (id, result) = match done {
                Ok((id, value)) => (id, Ok(value)),
                Err(e) if e.is_panic() => (e.id(), Err(Panicked)),
                Err(e) => {
                    self.keys.remove(&e.id());
                    continue;
                }
            };
            if let Some(key) = self.keys.remove(&id) {
                return Some((key, result));
            }
        }
    }
}

//! What the v2 gh front-end reads of a local repository (the current branch). Goes with the v2
//! gh path.

pub trait LocalRepo {
    /// Short name of the current branch; `None` when HEAD is detached.
    fn current_branch(&self) -> Option<String>;
}

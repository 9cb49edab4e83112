//! The only `unsafe` in zone-store: mapping a store (or journal) file read-only.

use std::fs::File;
use std::io;
use std::ops::Deref;

/// A read-only mapping of a whole file.
pub(crate) struct Mapping(memmap2::Mmap);

impl Mapping {
    /// Maps `file` read-only. No MAP_POPULATE: the checksum pass at open touches every page
    /// anyway, and letting it fault them in (the kernel maps 16 pages per fault) measured faster:
    /// opening a 28 MB store took 1.74-1.75 ms at best without, 1.88-1.97 ms with.
    pub(crate) fn map_readonly(file: &File) -> io::Result<Mapping> {
        let opts = memmap2::MmapOptions::new();
        // SAFETY: the mapping is read-only (memmap2's `map` is PROT_READ, MAP_SHARED), so
        // Rust never writes through it. memmap2's remaining requirement is that no
        // one modifies or truncates the file while it is mapped. Store files are written once
        // under a temporary name and renamed into place (`write_store`), never written in place;
        // replacing a store renames a new inode over the name and leaves the mapped inode
        // untouched. A process outside this contract that truncates the file can make reads
        // fault (SIGBUS); `Store::open` documents it.
        let map = unsafe { opts.map(file)? };
        Ok(Mapping(map))
    }
}

impl Deref for Mapping {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

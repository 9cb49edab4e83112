//! The only `unsafe` in zone-store: mapping a store file read-only.

use std::fs::File;
use std::io;
use std::ops::Deref;

/// A read-only mapping of a whole file.
pub(crate) struct Mapping(memmap2::Mmap);

impl Mapping {
    /// Maps `file` read-only. With `populate` the kernel maps every page up front
    /// (MAP_POPULATE), so the open-time checksum pass takes no page faults.
    pub(crate) fn map_readonly(file: &File, populate: bool) -> io::Result<Mapping> {
        let mut opts = memmap2::MmapOptions::new();
        if populate {
            opts.populate();
        }
        // SAFETY: the mapping is read-only (PROT_READ, MAP_PRIVATE semantics of memmap2's
        // `map`), so Rust never writes through it. memmap2's remaining requirement is that no
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

//! An index of ids claimed in file order, for tables with millions of rows.
//!
//! Ids live in one string arena (no allocation per id) and a `hashbrown::HashTable` holds
//! claim numbers; whether the claimed row was finally accepted, and at which index, is a
//! plain vector lookup. One hash per claim and one per lookup.

use hashbrown::HashTable;
use std::hash::BuildHasher;

/// A claimed id: the claim number, in file order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim(u32);

/// The id was claimed by an earlier row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duplicate;

#[derive(Debug, Default)]
pub(crate) struct IdIndex {
    arena: String,
    /// `ends[c]` is where claim c's id ends in the arena; it starts where c − 1 ends.
    ends: Vec<usize>,
    accepted: Vec<Option<u32>>,
    table: HashTable<u32>,
    hasher: foldhash::fast::FixedState,
}

/// Claim `c`'s id in the arena: it ends at `ends[c]` and starts where claim c − 1 ends.
fn id_at<'a>(arena: &'a str, ends: &[usize], c: u32) -> &'a str {
    let c = c as usize;
    let start = if c == 0 { 0 } else { ends[c - 1] };
    arena.get(start..ends[c]).unwrap_or("")
}

impl IdIndex {
    pub(crate) fn claim(&mut self, id: &str) -> Result<Claim, Duplicate> {
        let hash = self.hasher.hash_one(id);
        let Self {
            arena,
            ends,
            table,
            hasher,
            ..
        } = self;
        if table.find(hash, |&c| id_at(arena, ends, c) == id).is_some() {
            return Err(Duplicate);
        }
        let c = ends.len() as u32;
        table.insert_unique(hash, c, |&k| hasher.hash_one(id_at(arena, ends, k)));
        self.arena.push_str(id);
        self.ends.push(self.arena.len());
        self.accepted.push(None);
        Ok(Claim(c))
    }

    /// Room for `n` more ids of about `avg_len` bytes, so the table never rehashes mid-read.
    pub(crate) fn reserve(&mut self, n: usize, avg_len: usize) {
        let Self {
            arena,
            ends,
            table,
            hasher,
            ..
        } = self;
        table.reserve(n, |&k| hasher.hash_one(id_at(arena, ends, k)));
        self.arena.reserve(n * avg_len);
        self.ends.reserve(n);
        self.accepted.reserve(n);
    }

    pub(crate) fn accept(&mut self, c: Claim, index: u32) {
        if let Some(slot) = self.accepted.get_mut(c.0 as usize) {
            *slot = Some(index);
        }
    }

    /// The index of the accepted row with this id, if any.
    pub(crate) fn accepted(&self, id: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(id);
        let c = *self
            .table
            .find(hash, |&c| id_at(&self.arena, &self.ends, c) == id)?;
        self.accepted.get(c as usize).copied().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_claim_wins_and_acceptance_is_separate() {
        let mut ix = IdIndex::default();
        let a = ix.claim("P1").unwrap();
        let b = ix.claim("P2").unwrap();
        assert_eq!(ix.claim("P1"), Err(Duplicate));
        assert_eq!(ix.accepted("P1"), None);
        ix.accept(a, 0);
        assert_eq!(ix.accepted("P1"), Some(0));
        assert_eq!(ix.accepted("P2"), None);
        ix.accept(b, 1);
        assert_eq!(ix.accepted("P2"), Some(1));
        assert_eq!(ix.accepted("P3"), None);
        for i in 0..10_000 {
            ix.claim(&format!("X{i}")).unwrap();
        }
        assert_eq!(ix.claim("X9999"), Err(Duplicate));
        assert_eq!(ix.accepted("P2"), Some(1));
    }
}

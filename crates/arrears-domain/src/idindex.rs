//! An index of ids claimed in file order, for tables with millions of rows.
//!
//! Ids live in string arenas (no allocation per id) and `hashbrown::HashTable`s hold claim
//! numbers; whether the claimed row was finally accepted, and at which index, is a plain
//! vector lookup. The index is split into shards by hash: an id always lands in the same
//! shard, so claiming a batch of ids shard by shard, in file order within each shard, gives
//! exactly the result of claiming them one by one — and the shards can work in parallel.

use hashbrown::HashTable;
use rayon::prelude::*;
use std::hash::BuildHasher;

const SHARD_BITS: u32 = 4;
const SHARDS: usize = 1 << SHARD_BITS;
const LOCAL_BITS: u32 = 32 - SHARD_BITS;

/// A claimed id: its shard and claim number there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim(u32);

impl Claim {
    fn new(shard: usize, local: u32) -> Claim {
        Claim(((shard as u32) << LOCAL_BITS) | local)
    }
    fn shard(self) -> usize {
        (self.0 >> LOCAL_BITS) as usize
    }
    fn local(self) -> usize {
        (self.0 & ((1 << LOCAL_BITS) - 1)) as usize
    }
}

/// The id was claimed by an earlier row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duplicate;

#[derive(Debug, Default)]
struct Shard {
    arena: String,
    /// `ends[c]` is where claim c's id ends in the arena; it starts where c − 1 ends.
    ends: Vec<usize>,
    accepted: Vec<Option<u32>>,
    table: HashTable<u32>,
}

/// Claim `c`'s id in the arena.
fn id_at<'a>(arena: &'a str, ends: &[usize], c: u32) -> &'a str {
    let c = c as usize;
    let start = if c == 0 { 0 } else { ends[c - 1] };
    arena.get(start..ends[c]).unwrap_or("")
}

impl Shard {
    fn claim(
        &mut self,
        id: &str,
        hash: u64,
        hasher: &foldhash::fast::FixedState,
    ) -> Result<u32, Duplicate> {
        let Self {
            arena, ends, table, ..
        } = self;
        if table.find(hash, |&c| id_at(arena, ends, c) == id).is_some() {
            return Err(Duplicate);
        }
        let c = ends.len() as u32;
        table.insert_unique(hash, c, |&k| hasher.hash_one(id_at(arena, ends, k)));
        self.arena.push_str(id);
        self.ends.push(self.arena.len());
        self.accepted.push(None);
        Ok(c)
    }

    fn find(&self, id: &str, hash: u64) -> Option<u32> {
        self.table
            .find(hash, |&c| id_at(&self.arena, &self.ends, c) == id)
            .copied()
    }
}

#[derive(Debug)]
pub(crate) struct IdIndex {
    shards: Vec<Shard>,
    hasher: foldhash::fast::FixedState,
}

impl Default for IdIndex {
    fn default() -> Self {
        IdIndex {
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
            hasher: Default::default(),
        }
    }
}

impl IdIndex {
    fn shard_of(hash: u64) -> usize {
        (hash >> (64 - SHARD_BITS)) as usize
    }

    pub(crate) fn claim(&mut self, id: &str) -> Result<Claim, Duplicate> {
        let hash = self.hasher.hash_one(id);
        let s = Self::shard_of(hash);
        let hasher = self.hasher.clone();
        self.shards[s]
            .claim(id, hash, &hasher)
            .map(|c| Claim::new(s, c))
    }

    /// Claims a batch of ids as if one by one in order (`None` entries claim nothing), with
    /// the shards working in parallel.
    pub(crate) fn claim_batch(
        &mut self,
        ids: &[Option<&str>],
    ) -> Vec<Option<Result<Claim, Duplicate>>> {
        let hasher = self.hasher.clone();
        let hashes: Vec<u64> = ids
            .par_iter()
            .map(|id| id.map_or(0, |s| hasher.hash_one(s)))
            .collect();
        let mut rows: Vec<Vec<u32>> = vec![Vec::new(); SHARDS];
        for (i, id) in ids.iter().enumerate() {
            if id.is_some() {
                rows[Self::shard_of(hashes[i])].push(i as u32);
            }
        }
        let results: Vec<Vec<(u32, Result<Claim, Duplicate>)>> = self
            .shards
            .par_iter_mut()
            .zip(rows)
            .enumerate()
            .map(|(s, (shard, rows))| {
                rows.into_iter()
                    .map(|r| {
                        let id = ids[r as usize].unwrap_or("");
                        (
                            r,
                            shard
                                .claim(id, hashes[r as usize], &hasher)
                                .map(|c| Claim::new(s, c)),
                        )
                    })
                    .collect()
            })
            .collect();
        let mut out = vec![None; ids.len()];
        for (r, res) in results.into_iter().flatten() {
            out[r as usize] = Some(res);
        }
        out
    }

    /// Room for `n` more ids of about `avg_len` bytes, so the tables never rehash mid-read.
    pub(crate) fn reserve(&mut self, n: usize, avg_len: usize) {
        let per = n / SHARDS + 1;
        let hasher = self.hasher.clone();
        for s in &mut self.shards {
            let Shard {
                arena,
                ends,
                table,
                accepted,
            } = s;
            table.reserve(per, |&k| hasher.hash_one(id_at(arena, ends, k)));
            arena.reserve(per * avg_len);
            ends.reserve(per);
            accepted.reserve(per);
        }
    }

    pub(crate) fn accept(&mut self, c: Claim, index: u32) {
        if let Some(slot) = self
            .shards
            .get_mut(c.shard())
            .and_then(|s| s.accepted.get_mut(c.local()))
        {
            *slot = Some(index);
        }
    }

    /// The index of the accepted row with this id, if any.
    pub(crate) fn accepted(&self, id: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(id);
        let shard = &self.shards[Self::shard_of(hash)];
        let c = shard.find(id, hash)?;
        shard.accepted.get(c as usize).copied().flatten()
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

    #[test]
    fn a_batch_claims_exactly_as_one_by_one() {
        let ids: Vec<String> = (0..5_000)
            .map(|i| format!("P{}", (i * 7919) % 3_000))
            .collect();
        let mut one = IdIndex::default();
        let expect: Vec<bool> = ids.iter().map(|s| one.claim(s).is_ok()).collect();
        let mut batch = IdIndex::default();
        let mut refs: Vec<Option<&str>> = ids.iter().map(|s| Some(s.as_str())).collect();
        refs.insert(10, None);
        let got = batch.claim_batch(&refs);
        assert_eq!(got[10], None);
        let got: Vec<bool> = got
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 10)
            .map(|(_, r)| matches!(r, Some(Ok(_))))
            .collect();
        assert_eq!(got, expect);
        assert_eq!(expect.iter().filter(|x| **x).count(), 3_000);
    }
}

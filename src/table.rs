//! A fixed table of `W`-way buckets, indexed by a 64-bit keyed hash: the
//! memory the handshake and uptime tables share.
//!
//! A lookup, hit or miss, reads one bucket of one or two adjacent cache
//! lines (a hash map over a million entries costs a cache miss per probe),
//! and the bucket can be prefetched before the lookup
//! ([`BucketTable::prefetch`]). What a slot holds, and which slot a new
//! entry takes, is the owner's business.

/// Four 16-byte slots fill a 64-byte line: the uptime table's buckets,
/// where evicting a host only loses one uptime estimate.
pub(crate) const LINE_WAYS: usize = 4;

#[derive(Clone, Copy, Debug)]
#[repr(align(64))]
pub(crate) struct Bucket<S, const W: usize>(pub [S; W]);

impl<S: Default + Copy, const W: usize> Default for Bucket<S, W> {
    fn default() -> Self {
        Bucket([S::default(); W])
    }
}

pub(crate) struct BucketTable<S, const W: usize = LINE_WAYS> {
    buckets: Vec<Bucket<S, W>>,
}

impl<S: Copy + Default, const W: usize> BucketTable<S, W> {
    /// Room for about `capacity` entries: the largest power of two of
    /// buckets not above `capacity / W`, at least one. Memory is fixed
    /// here; tables of 4 MiB and more ask for huge pages.
    pub(crate) fn new(capacity: usize) -> Self {
        Self::with_buckets(Self::buckets_for(capacity))
    }

    /// How many buckets [`BucketTable::new`] gives `capacity`.
    pub(crate) fn buckets_for(capacity: usize) -> usize {
        let wanted = (capacity / W).max(1);
        1usize << (usize::BITS - 1 - wanted.leading_zeros())
    }

    /// A table of `n` buckets (a power of two).
    pub(crate) fn with_buckets(n: usize) -> Self {
        debug_assert!(n.is_power_of_two());
        BucketTable {
            buckets: crate::hint::huge_page_vec(n, Bucket::default()),
        }
    }

    /// The bucket `hash` picks (its low bits).
    pub(crate) fn bucket(&self, hash: u64) -> Option<&Bucket<S, W>> {
        self.buckets.get(self.index(hash))
    }

    pub(crate) fn bucket_mut(&mut self, hash: u64) -> Option<&mut Bucket<S, W>> {
        let i = self.index(hash);
        self.buckets.get_mut(i)
    }

    /// Starts loading the bucket `hash` picks, ahead of its lookup.
    pub(crate) fn prefetch(&self, hash: u64) {
        if let Some(b) = self.bucket(hash) {
            crate::hint::prefetch(b);
            // A bucket of two lines: the slot that starts the second.
            if let Some(second) = b.0.get(64 / std::mem::size_of::<S>().max(1)) {
                crate::hint::prefetch(second);
            }
        }
    }

    /// Every slot (for scans in tests and summaries).
    pub(crate) fn slots(&self) -> impl Iterator<Item = &S> {
        self.buckets.iter().flat_map(|b| b.0.iter())
    }

    pub(crate) fn buckets(&self) -> usize {
        self.buckets.len()
    }

    /// Every bit of the hash mixed into the index: foldhash's low bits
    /// alone spread the addresses of a /8 unevenly enough to overflow a
    /// few buckets at a tenth full (1 run in 25 of 100,000 handshakes
    /// evicted some; 1 in 100 mixed, as uniform hashing predicts).
    fn index(&self, hash: u64) -> usize {
        let mixed = (hash ^ (hash >> 32)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        (mixed >> 32) as usize & self.buckets.len().wrapping_sub(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_round_down_to_powers_of_two_and_buckets_fill_a_line() {
        assert_eq!(std::mem::size_of::<Bucket<[u64; 2], LINE_WAYS>>(), 64);
        assert_eq!(std::mem::size_of::<Bucket<[u64; 2], 8>>(), 128);
        assert_eq!(BucketTable::<u64, 8>::new(1 << 20).buckets(), 1 << 17);
        for (capacity, buckets) in [
            (0, 1),
            (4, 1),
            (7, 1),
            (8, 2),
            (100, 16),
            (1 << 20, 1 << 18),
        ] {
            assert_eq!(
                BucketTable::<u64>::new(capacity).buckets(),
                buckets,
                "{capacity}"
            );
        }
        let mut t = BucketTable::<u64>::new(64);
        // The same hash finds the same bucket; a slot is one slot.
        if let Some(b) = t.bucket_mut(3) {
            b.0[1] = 7;
        }
        assert_eq!(t.bucket(3).map(|b| b.0[1]), Some(7));
        assert_eq!(t.slots().filter(|&&s| s == 7).count(), 1);
    }
}

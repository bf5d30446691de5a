//! The classifier's answers kept per [`Selection`], for callers that
//! classify many SYNs of shapes not seen before ([`Model::classify_cached`]).

use super::model::{Answer, Selection};
#[cfg(doc)]
use super::Model;

/// Slots a cache starts with (64 KB). Under the built-in model the
/// selections of real traffic number in the hundreds: a window, MSS or hop
/// count the model does not know selects the same row as any other it does
/// not know.
const MIN_SLOTS: usize = 1 << 9;
/// Slots it grows to (1 MB), doubling (and emptied each time) while its
/// misses outnumber its slots: SYNs of random header values make thousands
/// of selections.
const MAX_SLOTS: usize = 1 << 13;
/// At full size, lookups sampled between checks of the hit rate.
const CHECK_EVERY: u32 = 1 << 13;
/// Lookups passed by without the cache after a sample missed nine times in
/// ten: a learned model (exact MSS values, hop counts, paths) can make
/// nearly every SYN of a new shape a new selection, and then the cache only
/// adds its hashing and stores.
const BYPASS: u32 = 1 << 16;

/// One answer per slot, the newest of those whose selections hash there:
/// a miss costs one scoring, as without the cache, plus a hash and a store.
#[derive(Debug, Default)]
pub struct AnswerCache {
    /// The model whose answers the slots hold; 0 before any.
    model: u64,
    /// [`Selection::words`] and answer; allocated at the first answer.
    slots: Vec<Option<([u64; 4], Answer)>>,
    /// `64 - log2(slots)`: the hash bits that pick a slot.
    shift: u32,
    scored: u64,
    /// Scored since the slots were last allocated: as many as there are
    /// slots, and the cache doubles.
    scored_here: usize,
    /// At full size: lookups and misses since the last check.
    sampled: u32,
    sampled_misses: u32,
    /// Lookups still to pass by ([`BYPASS`]).
    bypass: u32,
    bypassed: u64,
}

impl AnswerCache {
    pub fn new() -> AnswerCache {
        AnswerCache::default()
    }

    /// Answers scored (not found in the cache) so far.
    pub fn scored(&self) -> u64 {
        self.scored
    }

    /// Lookups passed by without the cache, its hit rate too low.
    pub fn bypassed(&self) -> u64 {
        self.bypassed
    }

    /// Slots held now.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// The answer of `sel` under model `model`, scored by `score` unless
    /// held.
    pub(super) fn answer(
        &mut self,
        model: u64,
        sel: Selection,
        score: impl FnOnce() -> Answer,
    ) -> Answer {
        if self.model != model || self.slots.is_empty() {
            self.model = model;
            self.bypass = 0;
            self.allocate(MIN_SLOTS);
        } else if self.bypass > 0 {
            self.bypass -= 1;
            self.bypassed += 1;
            return score();
        } else if self.scored_here >= self.slots.len() && self.slots.len() < MAX_SLOTS {
            self.allocate(self.slots.len() * 2);
        }
        let words = sel.words();
        // Each word multiplied apart, so the four multiplications overlap
        // rather than chain; the high bits of each product mix all of its
        // word's bits.
        const MIX: [u64; 4] = [
            0x9E37_79B9_7F4A_7C15,
            0xC2B2_AE3D_27D4_EB4F,
            0x1656_67B1_9E37_79F9,
            0xD6E8_FEB8_6659_FD93,
        ];
        let hash = words
            .iter()
            .zip(MIX)
            .fold(0u64, |h, (&w, m)| h ^ w.wrapping_mul(m));
        let full = self.slots.len() >= MAX_SLOTS;
        let answer = match self.slots.get_mut((hash >> self.shift) as usize) {
            Some(Some((held, answer))) if *held == words => *answer,
            Some(slot) => {
                self.scored += 1;
                self.scored_here += 1;
                self.sampled_misses += u32::from(full);
                let answer = score();
                *slot = Some((words, answer));
                answer
            }
            // Not reached: the shift keeps the index below the slot count.
            None => score(),
        };
        if full {
            self.sampled += 1;
            if self.sampled == CHECK_EVERY {
                if self.sampled_misses >= CHECK_EVERY / 10 * 9 {
                    self.bypass = BYPASS;
                }
                (self.sampled, self.sampled_misses) = (0, 0);
            }
        }
        answer
    }

    fn allocate(&mut self, slots: usize) {
        self.slots.clear();
        self.slots.resize(slots, None);
        self.shift = 64 - slots.trailing_zeros();
        self.scored_here = 0;
        (self.sampled, self.sampled_misses) = (0, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::testdata::{
        labelled_set, observation, realistic_syn, Rng, BROWSER_STACKS,
    };
    use crate::classify::{learn_from, Features, Model, ModelFile, Os, P0fClass, Sample};
    use crate::craft::{OptionBytes, Stack, TcpPacket};
    use crate::packet::Observation;

    /// A SYN whose TTL, window, MSS, window scale and layout are drawn at
    /// random: nearly every one a new shape, many a new selection.
    fn random_syn(rng: &mut Rng, n: u32) -> Observation {
        let (src, dst) = crate::craft::numbered_hosts(n, rng.chance(20));
        let mut p = Stack::Windows.syn(src, 1024 + (n % 60000) as u16, dst, 443, n);
        p.ttl = 1 + rng.below(255) as u8;
        p.window = rng.next() as u16 | 1;
        let o = OptionBytes::new().mss(500 + rng.below(1000) as u16);
        let ws = rng.below(15) as u8;
        p.options = match rng.below(4) {
            0 => o.nop().ws(ws).nop().nop().sok(),
            1 => o.sok().ts(n, 0).nop().ws(ws),
            2 => o.nop().ws(ws).nop().nop().ts(n, 0).sok().eol().eol(),
            _ => o,
        }
        .0;
        observation(&p)
    }

    /// What the classifier tells apart: the browser stacks over real
    /// networks, the same from TTL 255 (a middlebox's story), their
    /// servers' SYN+ACKs, random headers; with and without a p0f class.
    fn varied(n: u32) -> Vec<Features> {
        let mut rng = Rng::new(7);
        let stacks = Stack::ALL;
        (0..n)
            .map(|i| {
                let obs = match i % 4 {
                    0 => realistic_syn(rng.pick(&stacks), i, &mut rng),
                    1 => {
                        let mut obs = realistic_syn(rng.pick(&stacks), i, &mut rng);
                        obs.ttl = 255 - rng.below(20) as u8;
                        obs
                    }
                    2 => {
                        let (src, dst) = crate::craft::numbered_hosts(i, false);
                        let syn = rng.pick(&stacks).syn(src, 40000, dst, 443, i);
                        observation(&TcpPacket::syn_ack_for(&syn))
                    }
                    _ => random_syn(&mut rng, i),
                };
                let p0f = rng.chance(50).then(|| rng.pick(&P0fClass::ALL));
                Features::of(&obs, p0f)
            })
            .collect()
    }

    /// A model with every learned table filled (exact shapes, paths and
    /// hop counts select rows of their own), from `train` labelled by
    /// `label`.
    fn learned_model(train: &[(Observation, Os)], label: impl Fn(Os) -> Os) -> Model {
        let mut learned = ModelFile::empty_learned();
        learn_from(
            &mut learned,
            train.iter().map(|(obs, os)| Sample {
                obs,
                p0f: None,
                os: label(*os),
            }),
        );
        Model::compile(&ModelFile::builtin().unwrap(), Some(&learned)).unwrap()
    }

    #[test]
    fn cached_answers_are_the_fresh_ones() {
        let train = labelled_set(&BROWSER_STACKS, 200, 3);
        let builtin = Model::builtin().unwrap();
        let learned = learned_model(&train, |os| os);
        // The same SYNs labelled otherwise: the same rows, other answers.
        let relabelled = learned_model(&train, |os| match os {
            Os::Windows => Os::Linux,
            Os::Linux => Os::MacOs,
            _ => Os::Windows,
        });
        let mut features = varied(4000);
        features.extend(train.iter().map(|(obs, _)| Features::of(obs, None)));
        // One cache for the models in turn: a model never gets another's
        // answers.
        let mut cache = AnswerCache::new();
        for model in [&learned, &relabelled, &builtin, &learned, &builtin] {
            let scored = cache.scored();
            for (i, f) in features.iter().enumerate() {
                let fresh = model.classify_features(*f);
                assert_eq!(
                    model.classify_cached(*f, &mut cache),
                    fresh,
                    "SYN {i}: {f:?}"
                );
            }
            // Not vacuous: many answers came from the cache.
            let scored = cache.scored() - scored;
            assert!(scored < 4000, "{scored} of {}", features.len());
        }
    }

    #[test]
    fn the_cache_grows_only_for_many_distinct_selections() {
        let model = Model::builtin().unwrap();
        let mut rng = Rng::new(11);
        let mut cache = AnswerCache::new();
        for (n, (obs, _)) in labelled_set(&BROWSER_STACKS, 2000, 5).iter().enumerate() {
            model.classify_cached(Features::of(obs, None), &mut cache);
            assert_eq!(cache.capacity(), MIN_SLOTS, "after {n} SYNs of browsers");
        }
        assert!(cache.scored() < 1000, "{}", cache.scored());
        // Long enough to miss as many times again at full size.
        for n in 0..100_000 {
            model.classify_cached(Features::of(&random_syn(&mut rng, n), None), &mut cache);
        }
        assert_eq!(cache.capacity(), MAX_SLOTS);
        // Nine in ten found: the cache is worth its lookups.
        assert_eq!(cache.bypassed(), 0);
    }

    /// Under a learned model (exact MSS values, hop counts, paths) SYNs of
    /// random headers are nearly all new selections: the cache stops at
    /// its full size and is passed by, the answers still the fresh ones;
    /// when the bypass ends and it keeps missing, it stays at that size
    /// and is passed by again.
    #[test]
    fn a_cache_that_keeps_missing_is_passed_by() {
        // Learned from such SYNs: nearly every MSS value has its own row.
        let mut rng = Rng::new(13);
        let train: Vec<(Observation, Os)> = (0..3000)
            .map(|n| {
                let stack = BROWSER_STACKS[n as usize % 5];
                (
                    random_syn(&mut rng, n),
                    crate::classify::testdata::label(stack),
                )
            })
            .collect();
        let model = learned_model(&train, |os| os);
        let mut cache = AnswerCache::new();
        // Growing to full size, a sample, the bypass, and a second sample.
        let syns = 2 * MAX_SLOTS as u32 + BYPASS + 2 * CHECK_EVERY;
        for n in 0..syns {
            let f = Features::of(&random_syn(&mut rng, n), None);
            let c = model.classify_cached(f, &mut cache);
            if n % 97 == 0 {
                assert_eq!(c, model.classify_features(f), "SYN {n}");
            }
            assert!(cache.capacity() <= MAX_SLOTS, "after SYN {n}");
        }
        assert_eq!(cache.capacity(), MAX_SLOTS);
        assert!(
            cache.bypassed() > u64::from(BYPASS),
            "{} passed by, {} scored of {syns}",
            cache.bypassed(),
            cache.scored()
        );
    }
}

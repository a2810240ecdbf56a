//! Deterministic random streams for the fake organisation: the same seed and labels always
//! give the same numbers, on every platform and with every version of the `rand` crate.
//!
//! SplitMix64 is used instead of `rand`'s generators because `rand` does not promise stable
//! output across releases, and the fake's output must stay byte-identical for a given seed.

/// A SplitMix64 stream.
#[derive(Debug, Clone)]
pub struct Stream {
    state: u64,
}

const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// Mixes one 64-bit value (the SplitMix64 finaliser).
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Hashes a seed and a list of labels into one value; used to derive independent streams
/// (per day, per user, per chat) so that generating one part never shifts another.
pub fn derive(seed: u64, labels: &[u64]) -> u64 {
    labels.iter().fold(mix(seed ^ GOLDEN_GAMMA), |acc, label| {
        mix(acc ^ mix(label.wrapping_add(GOLDEN_GAMMA)))
    })
}

/// Hashes a string label, for streams keyed by an id.
pub fn label(text: &str) -> u64 {
    // FNV-1a: stable and good enough to turn a label into a stream key.
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |acc, byte| {
        (acc ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Stream {
    /// A stream for `seed` and `labels`.
    pub fn new(seed: u64, labels: &[u64]) -> Self {
        Self {
            state: derive(seed, labels),
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        mix(self.state)
    }

    /// A uniform float in [0, 1).
    pub fn unit(&mut self) -> f64 {
        // 53 high bits fill an f64 mantissa exactly.
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// A uniform integer in [0, n); 0 when n is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        // Multiply-shift keeps the bias below 2^-64 * n, irrelevant for fixture data.
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A uniform integer in [low, high] (inclusive); `low` when high < low.
    pub fn between(&mut self, low: i64, high: i64) -> i64 {
        if high <= low {
            return low;
        }
        let span = (high - low) as u64 + 1;
        low + self.below(span) as i64
    }

    /// A uniform index into a non-empty slice length; 0 for an empty one.
    pub fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    /// One element of a slice, or `None` when it is empty.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            None
        } else {
            items.get(self.index(items.len()))
        }
    }

    /// An index chosen with the given relative weights; 0 when all weights are zero.
    pub fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|w| u64::from(*w)).sum();
        let mut target = self.below(total);
        for (i, weight) in weights.iter().enumerate() {
            let weight = u64::from(*weight);
            if target < weight {
                return i;
            }
            target -= weight;
        }
        0
    }
}

const BASE58: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// A tagged id in the shape the real API uses: `prefix` + `01` + 22 base58 characters.
pub fn tagged_id(prefix: &str, stream: &mut Stream) -> String {
    let mut id = String::with_capacity(prefix.len() + 24);
    id.push_str(prefix);
    id.push_str("01");
    for _ in 0..22 {
        id.push(char::from(BASE58[stream.index(BASE58.len())]));
    }
    id
}

/// `n` lowercase hex characters.
pub fn hex_string(n: usize, stream: &mut Stream) -> String {
    const HEX: &[u8] = b"0123456789abcdef";
    (0..n).map(|_| char::from(HEX[stream.index(16)])).collect()
}

/// A version-4-shaped UUID drawn from the stream.
pub fn uuid(stream: &mut Stream) -> uuid::Uuid {
    let high = stream.next_u64().to_be_bytes();
    let low = stream.next_u64().to_be_bytes();
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&high);
    bytes[8..].copy_from_slice(&low);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_and_labels_give_the_same_stream() {
        let mut a = Stream::new(7, &[1, 2]);
        let mut b = Stream::new(7, &[1, 2]);
        let first: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let second: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        assert_eq!(first, second);
        let mut c = Stream::new(7, &[2, 1]);
        assert_ne!(first[0], c.next_u64());
    }

    #[test]
    fn bounded_draws_stay_in_range() {
        let mut s = Stream::new(1, &[]);
        for _ in 0..10_000 {
            assert!(s.below(7) < 7);
            let v = s.between(-3, 3);
            assert!((-3..=3).contains(&v));
            let u = s.unit();
            assert!((0.0..1.0).contains(&u));
        }
    }

    #[test]
    fn weighted_choice_never_picks_a_zero_weight() {
        let mut s = Stream::new(3, &[]);
        for _ in 0..1_000 {
            assert_ne!(s.weighted(&[5, 0, 5]), 1);
        }
    }

    #[test]
    fn tagged_ids_have_the_real_shape() {
        let mut s = Stream::new(9, &[]);
        let id = tagged_id("claude_chat_", &mut s);
        assert!(id.starts_with("claude_chat_01"));
        assert_eq!(id.len(), "claude_chat_".len() + 24);
        assert!(id["claude_chat_01".len()..]
            .bytes()
            .all(|b| BASE58.contains(&b)));
    }
}

//! A small seeded random number generator, so a randomized test replays from its seed.
//!
//! Two classic 64-bit generators, both a few shifts of one `u64`: Marsaglia's xorshift64
//! (shifts 13, 7, 17; the output is the state) and Vigna's xorshift64* (shifts 12, 25, 27, the
//! output multiplied by a constant, which mixes the low bits better). Tests that print a seed
//! to replay ("replay with SOAK_SEED=…") keep the generator and the seed-to-state mapping they
//! were written with, so every seed ever printed still replays the same run.
//!
//! The state must never be zero (both generators would stay at zero); [`spread`] turns any
//! small seed (0, 1, 2, …) into a well-mixed state that is not.

/// Golden-ratio constant (2^64 / φ): multiplying by it spreads consecutive seeds over all bits.
const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// Multiplier of xorshift64* (Vigna, "An experimental exploration of Marsaglia's xorshift
/// generators, scrambled", 2016).
const STAR: u64 = 0x2545_f491_4f6c_dd1d;

/// Returns a nonzero generator state for `seed`: the seed times the golden-ratio constant,
/// with the lowest bit set.
pub fn spread(seed: u64) -> u64 {
    seed.wrapping_mul(GOLDEN) | 1
}

/// Which generator an [`Rng`] runs.
#[derive(Debug, Clone, Copy)]
enum Kind {
    XorShift64,
    XorShift64Star,
}

/// A seeded pseudo-random generator for tests: deterministic, fast, not for cryptography.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
    kind: Kind,
}

impl Rng {
    /// Returns Marsaglia's xorshift64 (13, 7, 17) starting from `state`; each output is the new
    /// state.
    ///
    /// # Panics
    ///
    /// Panics when `state` is zero.
    pub fn xorshift64(state: u64) -> Rng {
        assert_ne!(state, 0, "a xorshift state of zero stays zero");
        Rng { state, kind: Kind::XorShift64 }
    }

    /// Returns Vigna's xorshift64* (12, 25, 27, times a constant) starting from `state`.
    ///
    /// # Panics
    ///
    /// Panics when `state` is zero.
    pub fn xorshift64_star(state: u64) -> Rng {
        assert_ne!(state, 0, "a xorshift state of zero stays zero");
        Rng { state, kind: Kind::XorShift64Star }
    }

    /// Returns the next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        match self.kind {
            Kind::XorShift64 => {
                self.state ^= self.state << 13;
                self.state ^= self.state >> 7;
                self.state ^= self.state << 17;
                self.state
            }
            Kind::XorShift64Star => {
                self.state ^= self.state >> 12;
                self.state ^= self.state << 25;
                self.state ^= self.state >> 27;
                self.state.wrapping_mul(STAR)
            }
        }
    }

    /// Returns a number in `0..n` (the next output modulo `n`; 0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Returns an index into a slice of `len` items (0 when `len` is 0): [`Rng::below`] for
    /// `usize`.
    pub fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    /// Returns `len` bytes, each the lowest byte of one output: data that neither zlib nor
    /// delta compression can shrink.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}

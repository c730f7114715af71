//! Champion/challenger arms: an account's arm is a function of its loan id alone, so it is
//! the same every day, on every machine and in every build. The hash is 64-bit FNV-1a over the
//! id's UTF-8 bytes (offset basis 0xcbf29ce484222325, prime 0x100000001b3), a published,
//! fixed function; Rust's `DefaultHasher` is never used because its output may change.

/// 64-bit FNV-1a of `bytes`.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The loan's bucket in 0..100: arms take consecutive bucket ranges in file order, so an arm
/// of 20% is buckets `[start, start + 20)`.
pub fn arm_bucket(loan_id: &str) -> u8 {
    // Proven lossless: the remainder is below 100.
    (fnv1a64(loan_id.as_bytes()) % 100) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_published_test_vectors() {
        // From the FNV reference (draft-eastlake-fnv): "" and "a" and "foobar".
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn buckets_spread_evenly() {
        let mut counts = [0u32; 100];
        for i in 0..100_000 {
            counts[arm_bucket(&format!("L{i:08}")) as usize] += 1;
        }
        // Each bucket near 1000; a skewed hash would leave some far off.
        assert!(
            counts.iter().all(|&c| (850..1150).contains(&c)),
            "{counts:?}"
        );
    }
}

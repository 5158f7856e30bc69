//! Durations as people write them (`90s`, `5m`, `1h 30m`: humantime's syntax), the one reader
//! for runbooks, flags, the config file, inventories and drills. Bounded to [`MAX`]: a deadline,
//! a timer or a multiple computed from a duration must never overflow, and `Instant::now()` plus
//! `300000000000y` (which humantime reads) panics, after a change may have started.
//!
//! A leaf: it knows nothing of where the text came from; callers add that to the error.

use std::time::Duration;

/// The longest duration accepted anywhere: 10,000 years (humantime's, of 365.25 days). Far
/// beyond any timeout or timer, so what is too long for one still reaches the check that says
/// why (`revert_after = "8000y"` is outside its bounds), and far below what `Instant`,
/// `SystemTime` and `Duration * 1000` hold.
pub const MAX: Duration = Duration::from_secs(10_000 * 31_557_600);

/// Reads `text` (humantime's syntax); longer than [`MAX`] is an error.
pub fn parse(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    bounded(d)
}

/// `d`, or an error when it is longer than [`MAX`].
pub fn bounded(d: Duration) -> Result<Duration, String> {
    if d > MAX {
        return Err("longer than 10000 years, the longest duration accepted".to_owned());
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use std::time::{Instant, SystemTime};

    use super::*;

    /// Issue #11 point 6, the case the property test found: humantime reads 300000000000y,
    /// and a deadline made of it overflowed `Instant` (a panic) where a step waits or a gate
    /// times out, after the run's changes had started.
    #[test]
    fn a_duration_too_long_for_a_deadline_is_refused() {
        assert!(humantime::parse_duration("300000000000y").is_ok());
        assert_eq!(
            parse("300000000000y"),
            Err("longer than 10000 years, the longest duration accepted".to_owned())
        );
        // The minimised case of `proptests::accepted_durations_make_deadlines_...`: 2^63 s and
        // a bit, read by humantime, past what `Instant` holds.
        assert!(parse("2562047788016h").is_err());
        assert!(crate::cli::parse_duration("9223372036857600").is_err());
        assert_eq!(parse("10000y"), Ok(MAX));
        assert!(parse("10000y 1s").is_err());
        let max = parse("10000y").expect("10,000 years");
        assert!(Instant::now().checked_add(max * 1000).is_some());
        assert!(SystemTime::now().checked_add(max * 1000).is_some());
    }
}

//! RFC 3339 rendering of epoch timestamps, fast enough for one call per flow tuple.
//!
//! Hand-written because it runs once per row on the hot path: civil-from-days (Howard Hinnant's
//! algorithm) plus a one-entry cache per second beats a general formatter by an order of magnitude.

/// Renders Unix milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ`, caching the per-second prefix.
#[derive(Default)]
pub struct TimeFormatter {
    cached_secs: Option<i64>,
    prefix: [u8; 19],
}

/// Largest millisecond value rendered as a four-digit year (9999-12-31T23:59:59.999Z).
pub const MAX_MS: i64 = 253_402_300_799_999;

impl TimeFormatter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the 24-byte timestamp. `ms` must be within `0..=MAX_MS` (callers validate).
    pub fn write(&mut self, ms: i64, out: &mut Vec<u8>) {
        let ms = ms.clamp(0, MAX_MS);
        let secs = ms / 1000;
        if self.cached_secs != Some(secs) {
            self.prefix = render_secs(secs);
            self.cached_secs = Some(secs);
        }
        out.extend_from_slice(&self.prefix);
        let milli = (ms % 1000) as u32;
        out.extend_from_slice(&[
            b'.',
            b'0' + (milli / 100) as u8,
            b'0' + (milli / 10 % 10) as u8,
            b'0' + (milli % 10) as u8,
            b'Z',
        ]);
    }

    /// The timestamp as a String (tests and CSV).
    pub fn format(ms: i64) -> String {
        let mut out = Vec::with_capacity(24);
        TimeFormatter::new().write(ms, &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

fn render_secs(secs: i64) -> [u8; 19] {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (sod / 3600, sod / 60 % 60, sod % 60);
    let mut b = *b"0000-00-00T00:00:00";
    let mut put = |at: usize, v: i64, width: usize| {
        let mut v = v;
        for i in (0..width).rev() {
            b[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, y, 4);
    put(5, m, 2);
    put(8, d, 2);
    put(11, hh, 2);
    put(14, mm, 2);
    put(17, ss, 2);
    b
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_instants() {
        assert_eq!(TimeFormatter::format(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(TimeFormatter::format(1_542_110_377_000), "2018-11-13T11:59:37.000Z");
        assert_eq!(TimeFormatter::format(1_663_146_003_599), "2022-09-14T09:00:03.599Z");
        assert_eq!(TimeFormatter::format(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(TimeFormatter::format(MAX_MS), "9999-12-31T23:59:59.999Z");
    }

    proptest! {
        #[test]
        fn agrees_with_the_time_crate(ms in 0i64..=MAX_MS) {
            let expected = time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).unwrap();
            let expected = expected
                .format(&time::macros::format_description!(
                    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
                ))
                .unwrap();
            prop_assert_eq!(TimeFormatter::format(ms), expected);
        }
    }
}

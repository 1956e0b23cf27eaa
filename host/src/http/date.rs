//! The cached Date header and access-log time stamps.
//!
//! Both change once a second, so each worker thread formats them at most once
//! a second and every response in between copies the cached bytes. The cache
//! is thread-local: no lock, no atomic, no cross-core traffic.

use std::cell::RefCell;
use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub(crate) const HTTP_DATE_LEN: usize = 29;
/// Length of a Common Log Format time (`06/Nov/1994:08:49:37 +0000`).
const CLF_DATE_LEN: usize = 26;
/// Length of an RFC 3339 UTC time (`1994-11-06T08:49:37Z`).
const RFC3339_LEN: usize = 20;

struct Cache {
    secs: u64,
    http: [u8; HTTP_DATE_LEN],
    clf: [u8; CLF_DATE_LEN],
    rfc3339: [u8; RFC3339_LEN],
}

thread_local! {
    static CACHE: RefCell<Cache> = const {
        RefCell::new(Cache {
            secs: u64::MAX,
            http: [b' '; HTTP_DATE_LEN],
            clf: [b' '; CLF_DATE_LEN],
            rfc3339: [b' '; RFC3339_LEN],
        })
    };
}

/// Call `f` with the current time as an HTTP `Date` value.
pub(crate) fn with_http_date<R>(f: impl FnOnce(&[u8]) -> R) -> R {
    with_cache(|c| f(&c.http))
}

/// Call `f` with the current time as a Common Log Format stamp (UTC).
pub(crate) fn with_clf_date<R>(f: impl FnOnce(&[u8]) -> R) -> R {
    with_cache(|c| f(&c.clf))
}

/// Call `f` with the current time in RFC 3339 (UTC), for JSON logs.
pub(crate) fn with_rfc3339_date<R>(f: impl FnOnce(&[u8]) -> R) -> R {
    with_cache(|c| f(&c.rfc3339))
}

fn with_cache<R>(f: impl FnOnce(&Cache) -> R) -> R {
    let now = SystemTime::now();
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CACHE.with(|cell| {
        let mut cache = cell.borrow_mut();
        if cache.secs != secs {
            cache.secs = secs;
            format_http(now, &mut cache.http);
            format_clf(secs, &mut cache.clf);
            format_rfc3339(secs, &mut cache.rfc3339);
        }
        f(&cache)
    })
}

fn format_http(now: SystemTime, out: &mut [u8; HTTP_DATE_LEN]) {
    // httpdate's Display always writes exactly 29 bytes for any SystemTime it
    // accepts; a failure would leave the previous second's text in place.
    let _ = write!(&mut out[..], "{}", httpdate::HttpDate::from(now));
}

/// Format `secs` since the epoch as `dd/Mon/yyyy:hh:mm:ss +0000`.
///
/// Written by hand because no dependency we have formats the Common Log
/// Format stamp; the log is in UTC so that no time-zone database is needed
/// on the request path.
fn format_clf(secs: u64, out: &mut [u8; CLF_DATE_LEN]) {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (year, month, day) = civil_from_days(secs / 86_400);
    let rem = secs % 86_400;
    let month_name = MONTHS
        .get(month.saturating_sub(1) as usize)
        .copied()
        .unwrap_or("Jan");
    let _ = write!(
        &mut out[..],
        "{day:02}/{month_name}/{year:04}:{:02}:{:02}:{:02} +0000",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
}

/// Format `secs` since the epoch as `yyyy-mm-ddThh:mm:ssZ`.
fn format_rfc3339(secs: u64, out: &mut [u8; RFC3339_LEN]) {
    let (year, month, day) = civil_from_days(secs / 86_400);
    let rem = secs % 86_400;
    let _ = write!(
        &mut out[..],
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
}

/// Days since 1970-01-01 to (year, month 1..=12, day 1..=31), proleptic
/// Gregorian; Howard Hinnant's `civil_from_days` for non-negative days.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn http_date_is_imf_fixdate() {
        let mut out = [0u8; HTTP_DATE_LEN];
        format_http(UNIX_EPOCH + Duration::from_secs(784_111_777), &mut out);
        assert_eq!(&out, b"Sun, 06 Nov 1994 08:49:37 GMT");
    }

    #[test]
    fn clf_date_matches_known_instants() {
        let mut out = [0u8; CLF_DATE_LEN];
        format_clf(784_111_777, &mut out);
        assert_eq!(&out, b"06/Nov/1994:08:49:37 +0000");
        format_clf(951_782_400, &mut out); // leap day
        assert_eq!(&out, b"29/Feb/2000:00:00:00 +0000");
        format_clf(0, &mut out);
        assert_eq!(&out, b"01/Jan/1970:00:00:00 +0000");
    }

    #[test]
    fn rfc3339_matches_known_instants() {
        let mut out = [0u8; RFC3339_LEN];
        format_rfc3339(784_111_777, &mut out);
        assert_eq!(&out, b"1994-11-06T08:49:37Z");
        format_rfc3339(951_782_400, &mut out);
        assert_eq!(&out, b"2000-02-29T00:00:00Z");
    }

    #[test]
    fn clf_agrees_with_httpdate_over_many_days() {
        for day in (0..80_000u64).step_by(37) {
            let secs = day * 86_400 + 12 * 3600 + 34 * 60 + 56;
            let mut clf = [0u8; CLF_DATE_LEN];
            format_clf(secs, &mut clf);
            let http = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs));
            // "Sun, 06 Nov 1994 08:49:37 GMT" vs "06/Nov/1994:08:49:37 +0000"
            let expected = format!(
                "{}/{}/{}:{}",
                &http[5..7],
                &http[8..11],
                &http[12..16],
                &http[17..25]
            );
            assert_eq!(&clf[..20], expected.as_bytes());
        }
    }

    #[test]
    fn cached_values_are_well_formed() {
        with_http_date(|d| assert!(d.ends_with(b" GMT")));
        with_clf_date(|d| assert!(d.ends_with(b" +0000")));
        with_rfc3339_date(|d| assert!(d.ends_with(b"Z")));
    }
}

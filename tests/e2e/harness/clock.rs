//! The instant most clocked tests start from.

use chrono::{DateTime, Utc};

/// 2030-01-01T00:00:00Z: where the device, session, stream and playback-token tests start their
/// clocks (areas whose expected values name another instant keep their own).
pub fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

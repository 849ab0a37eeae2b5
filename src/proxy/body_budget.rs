//! The memory all request bodies may take together. Each request holds its whole body for its
//! whole life (a retry re-sends it, maybe re-encoded), so without a bound N concurrent large
//! uploads take N times `max_request_body` (16 bodies of 30 MB peaked at 1 GB). A request
//! reserves its declared length before its body is read, or is refused at once; the
//! reservation is returned when the request ends, however it ends (the guard lives in the
//! request's context).

use crate::telemetry::metrics::BODY_BYTES_IN_FLIGHT;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes reserved by the bodies of every request in progress, in this process (a reloaded
/// config changes the limit, not what is held).
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// A request's share of the body budget, returned on drop.
#[derive(Debug)]
pub struct BodyReservation {
    bytes: usize,
}

impl BodyReservation {
    /// Reserves `bytes` if the total stays within `limit`.
    pub fn try_reserve(bytes: usize, limit: usize) -> Option<BodyReservation> {
        IN_FLIGHT
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                held.checked_add(bytes).filter(|total| *total <= limit)
            })
            .ok()?;
        BODY_BYTES_IN_FLIGHT.add(i64::try_from(bytes).unwrap_or(i64::MAX));
        Some(BodyReservation { bytes })
    }
}

impl Drop for BodyReservation {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(self.bytes, Ordering::AcqRel);
        BODY_BYTES_IN_FLIGHT.sub(i64::try_from(self.bytes).unwrap_or(i64::MAX));
    }
}

//! The device of a device-bound playback: the one bound to the customer cookie (stored binding while
//! fresh, else ExpressPlay's record service), counted among the user's devices under the per-user
//! limit.

use crate::catalog::DeviceAdmission;
use crate::decision::Grant;
use crate::expressplay::{Budget, DeviceLookup, DeviceLookupError, RecordError};
use crate::ids::{CustomerCookie, DeviceId};
use crate::ops::metrics::{Stage, Timer};

use super::token::upstream_refusal;
use super::{EntitlementService, Refusal, Step, UpstreamService};

impl EntitlementService {
    /// Counts `device` among the user's devices under the per-user limit.
    pub(super) async fn admit_device(&self, grant: Option<&Grant>, device: &DeviceId) -> Step<()> {
        let Some(uid) = grant.and_then(|g| g.uid.clone()) else {
            return Ok(());
        };
        let limit = (self.max_devices > 0).then_some(self.max_devices);
        match self
            .user_devices
            .register(&uid, device, limit, self.clock.now())
            .await
        {
            Ok(DeviceAdmission::Admitted) => Ok(()),
            Ok(DeviceAdmission::LimitReached { limit, devices }) => Err(Refusal::DeviceLimit {
                limit,
                registered: devices.len(),
            }),
            Err(e) => {
                tracing::error!(error = %e, "device registry failed");
                Err(Refusal::StoreUnavailable)
            }
        }
    }

    /// The device bound to `cookie`: the stored binding while fresh, else the record service's answer
    /// (stored only when it names exactly one well-formed device).
    pub(super) async fn device(&self, cookie: &CustomerCookie, budget: &Budget) -> Step<DeviceId> {
        let now = self.clock.now();
        match self.devices.cached_device(cookie, now).await {
            Ok(Some(device)) => return Ok(device),
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %e, "device binding store failure");
                return Err(Refusal::StoreUnavailable);
            }
        }
        let timer = Timer::start(Stage::UpstreamRecord);
        let lookup = self
            .expressplay
            .devices_for_cookie(cookie.expose(), budget)
            .await;
        drop(timer);
        let lookup = lookup.map_err(|e| match e {
            DeviceLookupError::Upstream(e) => upstream_refusal(UpstreamService::Record, e),
            DeviceLookupError::Record(RecordError::InvalidDevice) => Refusal::InvalidDeviceId,
            DeviceLookupError::Record(e) => {
                tracing::warn!(error = %e, "unreadable record answer");
                Refusal::UnreadableRecord(e)
            }
        })?;
        match lookup {
            DeviceLookup::One(device) => {
                if let Err(e) = self.devices.remember_device(cookie, &device, now).await {
                    tracing::warn!(error = %e, "cannot store the learned device binding");
                }
                Ok(device)
            }
            DeviceLookup::NotRegistered => Err(Refusal::DeviceNotRegistered),
            DeviceLookup::Several(count) => Err(Refusal::SeveralDevices { count }),
        }
    }
}

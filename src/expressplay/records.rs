//! Reading the record service's answer: the device id(s) logged under one cookie. ExpressPlay does
//! not publish the answer's field names, so they come from configuration (`RecordFields`) and this is
//! the one place that reads them.

use serde_json::Value;

use super::settings::RecordFields;
use crate::ids::DeviceId;

/// What the record service knows about a cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceLookup {
    /// No redemption has been logged under the cookie.
    NotRegistered,
    /// Exactly one device (possibly logged several times).
    One(DeviceId),
    /// Several different devices: which one is meant cannot be told.
    Several(usize),
}

/// An answer that cannot be used. Never quotes the answer (it may hold other customers' cookies).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("the record answer is not JSON")]
    NotJson,
    #[error("the record answer has no event list at {0:?}")]
    NoList(String),
    #[error("an event for this cookie has no text field {0:?}")]
    NoDevice(String),
    #[error("the device id on record has an unexpected shape")]
    InvalidDevice,
}

/// The devices logged under `cookie` in the record service's answer `body`.
pub fn devices_for_cookie(
    body: &str,
    fields: &RecordFields,
    cookie: &str,
) -> Result<DeviceLookup, RecordError> {
    let document: Value = serde_json::from_str(body).map_err(|_| RecordError::NotJson)?;
    let events = document
        .pointer(&fields.list)
        .and_then(Value::as_array)
        .ok_or_else(|| RecordError::NoList(fields.list.clone()))?;
    let mut devices: Vec<DeviceId> = Vec::new();
    for event in events {
        if event.get(&fields.cookie).and_then(Value::as_str) != Some(cookie) {
            continue;
        }
        let raw = event
            .get(&fields.device)
            .and_then(Value::as_str)
            .ok_or_else(|| RecordError::NoDevice(fields.device.clone()))?;
        let device = DeviceId::parse(raw).map_err(|_| RecordError::InvalidDevice)?;
        if !devices.contains(&device) {
            devices.push(device);
        }
    }
    Ok(match devices.len() {
        0 => DeviceLookup::NotRegistered,
        1 => DeviceLookup::One(devices.remove(0)),
        n => DeviceLookup::Several(n),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> RecordFields {
        RecordFields::default()
    }

    #[test]
    fn one_device_even_when_logged_twice_and_other_cookies_ignored() {
        let body = r#"{"records":[
            {"id":3,"cookie":"c1","deviceId":"dev-a"},
            {"id":2,"cookie":"c2","deviceId":"dev-b"},
            {"id":1,"cookie":"c1","deviceId":"dev-a"}]}"#;
        assert_eq!(
            devices_for_cookie(body, &fields(), "c1"),
            Ok(DeviceLookup::One(DeviceId::parse("dev-a").unwrap()))
        );
        assert_eq!(
            devices_for_cookie(body, &fields(), "c3"),
            Ok(DeviceLookup::NotRegistered)
        );
    }

    #[test]
    fn several_devices_and_bad_answers() {
        let several =
            r#"{"records":[{"cookie":"c","deviceId":"a"},{"cookie":"c","deviceId":"b"}]}"#;
        assert_eq!(
            devices_for_cookie(several, &fields(), "c"),
            Ok(DeviceLookup::Several(2))
        );
        assert_eq!(
            devices_for_cookie("{garbage", &fields(), "c"),
            Err(RecordError::NotJson)
        );
        assert_eq!(
            devices_for_cookie(r#"{"events":[]}"#, &fields(), "c"),
            Err(RecordError::NoList("/records".into()))
        );
        assert_eq!(
            devices_for_cookie(
                r#"{"records":[{"cookie":"c","deviceId":7}]}"#,
                &fields(),
                "c"
            ),
            Err(RecordError::NoDevice("deviceId".into()))
        );
        assert_eq!(
            devices_for_cookie(
                r#"{"records":[{"cookie":"c","deviceId":"has space"}]}"#,
                &fields(),
                "c"
            ),
            Err(RecordError::InvalidDevice)
        );
    }

    #[test]
    fn field_names_and_list_position_are_configurable() {
        let custom = RecordFields {
            list: String::new(),
            cookie: "customerCookie".into(),
            device: "device_id".into(),
        };
        let body = r#"[{"customerCookie":"c","device_id":"xyz"}]"#;
        assert_eq!(
            devices_for_cookie(body, &custom, "c"),
            Ok(DeviceLookup::One(DeviceId::parse("xyz").unwrap()))
        );
        let nested = RecordFields {
            list: "/data/events".into(),
            ..fields()
        };
        let body = r#"{"data":{"events":[{"cookie":"c","deviceId":"n1"}]}}"#;
        assert!(matches!(
            devices_for_cookie(body, &nested, "c"),
            Ok(DeviceLookup::One(_))
        ));
    }
}

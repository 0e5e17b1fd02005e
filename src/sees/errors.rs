//! The SEES error numbers: one table, stable, grouped by cause. The README's table is generated from
//! `ErrorCode::ALL` (see the `readme_table_matches_the_code` test), so the two cannot drift.
//!
//! A number is never reused for another meaning; new causes get new numbers in their group.

/// Every error number sees answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    // 1xxx — the request cannot be read or is not a valid Entitlement Request.
    MalformedJson,
    SchemaViolation,
    InvalidMessageId,
    InvalidVersion,
    InvalidRequestType,
    InvalidContentId,
    InvalidCustomerCookie,
    BodyTooLarge,
    UnknownPath,
    MethodNotAllowed,
    RequestTypeNotSupported,
    TlsRequired,
    // 2xxx — the content is unknown or cannot be served.
    UnknownContent,
    ContentWindowClosed,
    // 4xxx — the ExpressPlay token service failed.
    UpstreamUnreachable,
    UpstreamTimeout,
    UpstreamRejected,
    UpstreamBadResponse,
    // 5xxx — sees itself failed.
    Internal,
    StoreUnavailable,
    KeyUnreadable,
    DeadlineExceeded,
}

impl ErrorCode {
    /// The table, in number order.
    pub const ALL: [ErrorCode; 22] = [
        ErrorCode::MalformedJson,
        ErrorCode::SchemaViolation,
        ErrorCode::InvalidMessageId,
        ErrorCode::InvalidVersion,
        ErrorCode::InvalidRequestType,
        ErrorCode::InvalidContentId,
        ErrorCode::InvalidCustomerCookie,
        ErrorCode::BodyTooLarge,
        ErrorCode::UnknownPath,
        ErrorCode::MethodNotAllowed,
        ErrorCode::RequestTypeNotSupported,
        ErrorCode::TlsRequired,
        ErrorCode::UnknownContent,
        ErrorCode::ContentWindowClosed,
        ErrorCode::UpstreamUnreachable,
        ErrorCode::UpstreamTimeout,
        ErrorCode::UpstreamRejected,
        ErrorCode::UpstreamBadResponse,
        ErrorCode::Internal,
        ErrorCode::StoreUnavailable,
        ErrorCode::KeyUnreadable,
        ErrorCode::DeadlineExceeded,
    ];

    /// The number in the response's `error` field.
    pub const fn number(self) -> i32 {
        match self {
            ErrorCode::MalformedJson => 1001,
            ErrorCode::SchemaViolation => 1002,
            ErrorCode::InvalidMessageId => 1003,
            ErrorCode::InvalidVersion => 1004,
            ErrorCode::InvalidRequestType => 1005,
            ErrorCode::InvalidContentId => 1006,
            ErrorCode::InvalidCustomerCookie => 1007,
            ErrorCode::BodyTooLarge => 1008,
            ErrorCode::UnknownPath => 1009,
            ErrorCode::MethodNotAllowed => 1010,
            ErrorCode::RequestTypeNotSupported => 1011,
            ErrorCode::TlsRequired => 1012,
            ErrorCode::UnknownContent => 2001,
            ErrorCode::ContentWindowClosed => 2002,
            ErrorCode::UpstreamUnreachable => 4001,
            ErrorCode::UpstreamTimeout => 4002,
            ErrorCode::UpstreamRejected => 4003,
            ErrorCode::UpstreamBadResponse => 4004,
            ErrorCode::Internal => 5000,
            ErrorCode::StoreUnavailable => 5001,
            ErrorCode::KeyUnreadable => 5002,
            ErrorCode::DeadlineExceeded => 5003,
        }
    }

    /// The HTTP status: 200 for every decision (the request was read; allowed or denied), 4xx for a
    /// request that cannot be read.
    pub const fn http_status(self) -> u16 {
        match self {
            ErrorCode::MalformedJson
            | ErrorCode::SchemaViolation
            | ErrorCode::InvalidMessageId
            | ErrorCode::InvalidVersion
            | ErrorCode::InvalidRequestType
            | ErrorCode::InvalidContentId
            | ErrorCode::InvalidCustomerCookie
            | ErrorCode::TlsRequired => 400,
            ErrorCode::BodyTooLarge => 413,
            ErrorCode::UnknownPath => 404,
            ErrorCode::MethodNotAllowed => 405,
            _ => 200,
        }
    }

    /// What the number means, one line (the start of every `errorText`).
    pub const fn summary(self) -> &'static str {
        match self {
            ErrorCode::MalformedJson => "the body is not a JSON document",
            ErrorCode::SchemaViolation => "the body does not match the Entitlement Request schema",
            ErrorCode::InvalidMessageId => "messageID must be 1-128 characters without control characters",
            ErrorCode::InvalidVersion => "version must be a positive integer (or a numeric string)",
            ErrorCode::InvalidRequestType => "requestType must be 1, 2 or 3",
            ErrorCode::InvalidContentId => "contentID must be 1-256 characters without control characters",
            ErrorCode::InvalidCustomerCookie => {
                "customerCookie must be at most 32 characters without control characters"
            }
            ErrorCode::BodyTooLarge => "the body exceeds server.max_body_bytes",
            ErrorCode::UnknownPath => "no entitlement endpoint at this path",
            ErrorCode::MethodNotAllowed => "Entitlement Requests must be POSTed",
            ErrorCode::RequestTypeNotSupported => {
                "this server does not serve device registration (2) or device-bound (3) requests yet"
            }
            ErrorCode::TlsRequired => {
                "plaintext HTTP on the TLS port (answered before closing the connection)"
            }
            ErrorCode::UnknownContent => "no content key is stored for this contentID",
            ErrorCode::ContentWindowClosed => "the content key's configured token expiry has passed",
            ErrorCode::UpstreamUnreachable => "the ExpressPlay token service could not be reached",
            ErrorCode::UpstreamTimeout => "the ExpressPlay token service did not answer in time",
            ErrorCode::UpstreamRejected => "the ExpressPlay token service refused the token request",
            ErrorCode::UpstreamBadResponse => "the ExpressPlay token service answered without a token URL",
            ErrorCode::Internal => "internal error",
            ErrorCode::StoreUnavailable => "the key store is unavailable",
            ErrorCode::KeyUnreadable => "the stored content key cannot be decrypted",
            ErrorCode::DeadlineExceeded => "the request deadline passed before a decision",
        }
    }

    /// The README's error table, in Markdown.
    pub fn markdown_table() -> String {
        let mut table = String::from("| error | HTTP | meaning |\n|---|---|---|\n");
        for code in Self::ALL {
            table.push_str(&format!(
                "| {} | {} | {} |\n",
                code.number(),
                code.http_status(),
                code.summary()
            ));
        }
        table
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_unique_ordered_and_grouped() {
        let numbers: Vec<i32> = ErrorCode::ALL.iter().map(|c| c.number()).collect();
        let mut sorted = numbers.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(numbers, sorted, "unique and in number order");
        for code in ErrorCode::ALL {
            let group = code.number() / 1000;
            assert!([1, 2, 3, 4, 5].contains(&group), "{code:?}");
            if group != 1 {
                assert_eq!(code.http_status(), 200, "{code:?} is a decision");
            }
        }
    }

    #[test]
    fn readme_table_matches_the_code() {
        let readme = include_str!("../../README.md");
        assert!(
            readme.contains(&ErrorCode::markdown_table()),
            "README.md's error table is out of date; paste this:\n{}",
            ErrorCode::markdown_table()
        );
    }
}

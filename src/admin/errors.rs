//! The admin API's error codes: one table, stable, separate from the SEES error numbers. The codes the
//! OEM spec itself uses (1003, 1004, 1040, 1041) keep the spec's meaning and HTTP status. The README's
//! table is generated from `AdminCode::ALL` and checked by a test.

/// Every admin error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AdminCode {
    Unauthorized,
    ForbiddenRead,
    ForbiddenWrite,
    MalformedJson,
    InvalidField,
    UnknownField,
    InvalidDate,
    DatesOutOfOrder,
    ListTooLong,
    BodyTooLarge,
    InvalidQuery,
    NoSuchRoute,
    MethodNotAllowed,
    PackageNotFound,
    UserNotFound,
    BillingPlanNotFound,
    ProductNotFound,
    AssetNotFound,
    ContentKeyNotFound,
    DuplicatePackage,
    DuplicateEntitlement,
    DuplicateBillingPlan,
    DuplicateProduct,
    DuplicateProductPlan,
    VersionConflict,
    BillingPlanInUse,
    GraphCycle,
    GraphTooDeep,
    UnknownEntitlementProvider,
    EntitlementTokenRefused,
    EntitlementTokenReplayed,
    NotEntitled,
    UnsupportedTokenType,
    AmbiguousContentKey,
    UpstreamFailed,
    StoreUnavailable,
    Internal,
}

impl AdminCode {
    /// The table, in number order.
    pub const ALL: [AdminCode; 37] = [
        AdminCode::Unauthorized,
        AdminCode::ForbiddenRead,
        AdminCode::ForbiddenWrite,
        AdminCode::MalformedJson,
        AdminCode::InvalidField,
        AdminCode::UnknownField,
        AdminCode::InvalidDate,
        AdminCode::DatesOutOfOrder,
        AdminCode::ListTooLong,
        AdminCode::BodyTooLarge,
        AdminCode::InvalidQuery,
        AdminCode::NoSuchRoute,
        AdminCode::MethodNotAllowed,
        AdminCode::PackageNotFound,
        AdminCode::UserNotFound,
        AdminCode::BillingPlanNotFound,
        AdminCode::ProductNotFound,
        AdminCode::AssetNotFound,
        AdminCode::ContentKeyNotFound,
        AdminCode::DuplicatePackage,
        AdminCode::DuplicateEntitlement,
        AdminCode::DuplicateBillingPlan,
        AdminCode::DuplicateProduct,
        AdminCode::DuplicateProductPlan,
        AdminCode::VersionConflict,
        AdminCode::BillingPlanInUse,
        AdminCode::GraphCycle,
        AdminCode::GraphTooDeep,
        AdminCode::UnknownEntitlementProvider,
        AdminCode::EntitlementTokenRefused,
        AdminCode::EntitlementTokenReplayed,
        AdminCode::NotEntitled,
        AdminCode::UnsupportedTokenType,
        AdminCode::AmbiguousContentKey,
        AdminCode::UpstreamFailed,
        AdminCode::StoreUnavailable,
        AdminCode::Internal,
    ];

    /// The `code` field.
    pub const fn number(self) -> u32 {
        match self {
            AdminCode::Unauthorized => 1001,
            AdminCode::ForbiddenRead => 1003,
            AdminCode::ForbiddenWrite => 1004,
            AdminCode::MalformedJson => 1010,
            AdminCode::InvalidField => 1011,
            AdminCode::UnknownField => 1012,
            AdminCode::InvalidDate => 1013,
            AdminCode::DatesOutOfOrder => 1014,
            AdminCode::ListTooLong => 1015,
            AdminCode::BodyTooLarge => 1016,
            AdminCode::InvalidQuery => 1017,
            AdminCode::NoSuchRoute => 1020,
            AdminCode::MethodNotAllowed => 1021,
            AdminCode::PackageNotFound => 1040,
            AdminCode::UserNotFound => 1041,
            AdminCode::BillingPlanNotFound => 1042,
            AdminCode::ProductNotFound => 1043,
            AdminCode::AssetNotFound => 1044,
            AdminCode::ContentKeyNotFound => 1045,
            AdminCode::DuplicatePackage => 1050,
            AdminCode::DuplicateEntitlement => 1051,
            AdminCode::DuplicateBillingPlan => 1052,
            AdminCode::DuplicateProduct => 1053,
            AdminCode::DuplicateProductPlan => 1054,
            AdminCode::VersionConflict => 1055,
            AdminCode::BillingPlanInUse => 1056,
            AdminCode::GraphCycle => 1060,
            AdminCode::GraphTooDeep => 1061,
            AdminCode::UnknownEntitlementProvider => 1070,
            AdminCode::EntitlementTokenRefused => 1071,
            AdminCode::EntitlementTokenReplayed => 1072,
            AdminCode::NotEntitled => 1080,
            AdminCode::UnsupportedTokenType => 1081,
            AdminCode::AmbiguousContentKey => 1082,
            AdminCode::UpstreamFailed => 1083,
            AdminCode::StoreUnavailable => 1090,
            AdminCode::Internal => 1099,
        }
    }

    /// The HTTP status that goes with the code.
    pub const fn status(self) -> u16 {
        match self {
            AdminCode::Unauthorized => 401,
            AdminCode::ForbiddenRead
            | AdminCode::ForbiddenWrite
            | AdminCode::EntitlementTokenRefused => 403,
            AdminCode::MalformedJson
            | AdminCode::InvalidField
            | AdminCode::UnknownField
            | AdminCode::InvalidDate
            | AdminCode::DatesOutOfOrder
            | AdminCode::InvalidQuery
            | AdminCode::UnsupportedTokenType
            | AdminCode::UnknownEntitlementProvider => 400,
            AdminCode::ListTooLong | AdminCode::BodyTooLarge => 413,
            AdminCode::NoSuchRoute
            | AdminCode::PackageNotFound
            | AdminCode::UserNotFound
            | AdminCode::BillingPlanNotFound
            | AdminCode::ProductNotFound
            | AdminCode::AssetNotFound
            | AdminCode::ContentKeyNotFound => 404,
            AdminCode::NotEntitled => 403,
            AdminCode::UpstreamFailed => 502,
            AdminCode::MethodNotAllowed => 405,
            AdminCode::DuplicatePackage
            | AdminCode::DuplicateEntitlement
            | AdminCode::DuplicateBillingPlan
            | AdminCode::DuplicateProduct
            | AdminCode::DuplicateProductPlan
            | AdminCode::VersionConflict
            | AdminCode::BillingPlanInUse
            | AdminCode::GraphCycle
            | AdminCode::GraphTooDeep
            | AdminCode::AmbiguousContentKey
            | AdminCode::EntitlementTokenReplayed => 409,
            AdminCode::StoreUnavailable => 503,
            AdminCode::Internal => 500,
        }
    }

    /// What the code means.
    pub const fn summary(self) -> &'static str {
        match self {
            AdminCode::Unauthorized => {
                "missing, malformed, unknown, revoked or expired bearer token"
            }
            AdminCode::ForbiddenRead => "the caller may not read the requested resource",
            AdminCode::ForbiddenWrite => "the caller may not write or update the target resource",
            AdminCode::MalformedJson => "the body is not JSON",
            AdminCode::InvalidField => {
                "a field is missing, has the wrong type, or an identifier is not valid"
            }
            AdminCode::UnknownField => "the body has a field the endpoint does not know (a typo?)",
            AdminCode::InvalidDate => "a date is not an RFC 3339 timestamp",
            AdminCode::DatesOutOfOrder => "endDate must be after startDate",
            AdminCode::ListTooLong => "a list in the body is longer than admin.max_list_len",
            AdminCode::BodyTooLarge => "the body is larger than admin.max_body_bytes",
            AdminCode::InvalidQuery => "a query parameter is not valid",
            AdminCode::NoSuchRoute => "no admin endpoint at this path",
            AdminCode::MethodNotAllowed => "the endpoint does not take this method",
            AdminCode::PackageNotFound => "target package not found",
            AdminCode::UserNotFound => "no matching user ID found",
            AdminCode::BillingPlanNotFound => "target billing plan not found",
            AdminCode::ProductNotFound => "target product not found",
            AdminCode::AssetNotFound => "the asset is in no package",
            AdminCode::ContentKeyNotFound => "no content key protects the asset",
            AdminCode::DuplicatePackage => "a package with this ID exists",
            AdminCode::DuplicateEntitlement => {
                "the user already holds an entitlement to this package"
            }
            AdminCode::DuplicateBillingPlan => "a billing plan with this ID exists",
            AdminCode::DuplicateProduct => "a product with this ID exists",
            AdminCode::DuplicateProductPlan => {
                "the package already has a product for this billing plan"
            }
            AdminCode::VersionConflict => {
                "the product's version is not the one the update names (changed meanwhile)"
            }
            AdminCode::BillingPlanInUse => {
                "the billing plan is still used by products or packages' billingPlanIDs"
            }
            AdminCode::GraphCycle => "the edge would make the package graph cyclic",
            AdminCode::GraphTooDeep => {
                "the edge would make the package graph deeper than admin.graph_max_depth"
            }
            AdminCode::UnknownEntitlementProvider => {
                "the provider is not a configured entitlement provider"
            }
            AdminCode::EntitlementTokenRefused => {
                "the entitlement token does not verify or its claims are not valid"
            }
            AdminCode::EntitlementTokenReplayed => {
                "the entitlement token was already applied (same provider and jti)"
            }
            AdminCode::NotEntitled => {
                "the user may not play the asset now (the message gives the SEES number and why)"
            }
            AdminCode::UnsupportedTokenType => {
                "tokentype is missing or not offered here (the message lists those that are)"
            }
            AdminCode::AmbiguousContentKey => "several content keys protect the asset",
            AdminCode::UpstreamFailed => {
                "the token service failed (the message gives the SEES 4xxx number)"
            }
            AdminCode::StoreUnavailable => "the store is unavailable",
            AdminCode::Internal => "internal error",
        }
    }

    /// The README's table, in Markdown.
    pub fn markdown_table() -> String {
        let mut table = String::from("| code | HTTP | meaning |\n|---|---|---|\n");
        for code in Self::ALL {
            table.push_str(&format!(
                "| {} | {} | {} |\n",
                code.number(),
                code.status(),
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
    fn codes_are_unique_and_the_specs_own_codes_keep_their_meaning() {
        let mut numbers: Vec<u32> = AdminCode::ALL.iter().map(|c| c.number()).collect();
        let listed = numbers.clone();
        numbers.sort();
        numbers.dedup();
        assert_eq!(listed, numbers);
        assert_eq!(
            (
                AdminCode::ForbiddenRead.number(),
                AdminCode::ForbiddenRead.status()
            ),
            (1003, 403)
        );
        assert_eq!(
            (
                AdminCode::ForbiddenWrite.number(),
                AdminCode::ForbiddenWrite.status()
            ),
            (1004, 403)
        );
        assert_eq!(
            (
                AdminCode::PackageNotFound.number(),
                AdminCode::PackageNotFound.status()
            ),
            (1040, 404)
        );
        assert_eq!(
            (
                AdminCode::UserNotFound.number(),
                AdminCode::UserNotFound.status()
            ),
            (1041, 404)
        );
    }

    #[test]
    fn readme_table_matches_the_code() {
        let readme = include_str!("../../README.md");
        assert!(
            readme.contains(&AdminCode::markdown_table()),
            "README.md's admin error table is out of date; paste this:\n{}",
            AdminCode::markdown_table()
        );
    }
}

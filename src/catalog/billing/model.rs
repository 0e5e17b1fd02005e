//! The billing objects as values: periods, currencies, prices, billing plans and products, each
//! checking itself and serializing to exactly the JSON the OEM spec shows (`trialperiod`, `shortDesc`,
//! `storeData`, `created`/`modified` with milliseconds).

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ids::{BillingPlanId, IdError, PackageId, ProductId};

/// How many users of a billing plan a refused deletion names, per kind.
pub(super) const USERS_SHOWN: usize = 20;

/// Why a billing value is not acceptable. Carries no part of the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("must be a count of 1-999 and a unit d, w, M or y (such as 1M, 1y or 3d)")]
    Period,
    #[error("must be an ISO 4217 currency code: 3 upper-case letters (such as USD)")]
    Currency,
    #[error("must be a number of at least 0")]
    Price,
}

/// The unit of a `Period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeriodUnit {
    /// `d`
    Day,
    /// `w`
    Week,
    /// `M` (upper case: a lower-case `m` could be read as minutes)
    Month,
    /// `y`
    Year,
}

impl PeriodUnit {
    fn letter(self) -> char {
        match self {
            PeriodUnit::Day => 'd',
            PeriodUnit::Week => 'w',
            PeriodUnit::Month => 'M',
            PeriodUnit::Year => 'y',
        }
    }
}

/// A billing period as the spec writes it: a count of 1-999 and a unit (`"1M"`, `"1y"`, `"3d"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    count: u16,
    unit: PeriodUnit,
}

impl Period {
    /// The longest count.
    pub const MAX_COUNT: u16 = 999;

    /// Accepts a count without leading zeros (1-999) followed by `d`, `w`, `M` or `y`.
    pub fn parse(raw: &str) -> Result<Period, ValueError> {
        let mut chars = raw.chars();
        let unit = match chars.next_back() {
            Some('d') => PeriodUnit::Day,
            Some('w') => PeriodUnit::Week,
            Some('M') => PeriodUnit::Month,
            Some('y') => PeriodUnit::Year,
            _ => return Err(ValueError::Period),
        };
        let digits = chars.as_str();
        if digits.is_empty()
            || digits.len() > 3
            || digits.starts_with('0')
            || !digits.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(ValueError::Period);
        }
        let count = digits.parse::<u16>().map_err(|_| ValueError::Period)?;
        Ok(Period { count, unit })
    }

    /// How many units.
    pub fn count(self) -> u16 {
        self.count
    }

    /// Which unit.
    pub fn unit(self) -> PeriodUnit {
        self.unit
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.count, self.unit.letter())
    }
}

impl Serialize for Period {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Period {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Period::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// An ISO 4217 currency code: three upper-case ASCII letters (the shape; the list of codes is not
/// checked).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Currency(String);

impl Currency {
    /// Accepts three upper-case ASCII letters.
    pub fn parse(raw: &str) -> Result<Currency, ValueError> {
        if raw.len() == 3 && raw.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(Currency(raw.to_owned()))
        } else {
            Err(ValueError::Currency)
        }
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Currency::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// A price: a non-negative JSON number, kept as written (`1` stays `1`, `0.02` stays `0.02`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Price(serde_json::Number);

impl Price {
    /// Accepts a finite number that is not negative (`-0.0` included).
    pub fn new(number: serde_json::Number) -> Result<Price, ValueError> {
        match number.as_f64() {
            Some(value) if value.is_finite() && value.is_sign_positive() => Ok(Price(number)),
            _ => Err(ValueError::Price),
        }
    }

    /// The price as a float.
    pub fn as_f64(&self) -> f64 {
        self.0.as_f64().unwrap_or(0.0)
    }
}

impl<'de> Deserialize<'de> for Price {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let number = serde_json::Number::deserialize(d)?;
        Price::new(number).map_err(serde::de::Error::custom)
    }
}

/// Prices: store name (`Apple`, `Google`, …) → currency → price.
pub type Prices = BTreeMap<String, BTreeMap<Currency, Price>>;

/// Text per language tag (`en`, `pt-BR`, …).
pub type Localized = BTreeMap<String, String>;

/// A trial before the first paid cycle: `cycles` periods of `cycleLength`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrialPeriod {
    pub cycle_length: Period,
    pub cycles: u32,
}

/// A billing plan as the spec shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BillingPlan {
    pub id: BillingPlanId,
    pub description: String,
    pub recurrence: Period,
    pub prices: Prices,
    /// `trialperiod` (lower case, as in the spec); `null` when there is none.
    #[serde(rename = "trialperiod")]
    pub trial_period: Option<TrialPeriod>,
    pub custom_data: BTreeMap<String, String>,
}

/// What a product is called in one store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreProduct {
    #[serde(rename = "storeProductID")]
    pub store_product_id: String,
    #[serde(rename = "customData", default)]
    pub custom_data: BTreeMap<String, String>,
}

/// A product: one package sold through one billing plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Product {
    pub id: ProductId,
    #[serde(rename = "packageID")]
    pub package_id: PackageId,
    #[serde(rename = "billingPlanID")]
    pub billing_plan_id: BillingPlanId,
    pub name: Localized,
    #[serde(rename = "shortDesc")]
    pub short_desc: Localized,
    #[serde(rename = "longDesc")]
    pub long_desc: Localized,
    /// Store name → the product in that store.
    #[serde(rename = "storeData")]
    pub store_data: BTreeMap<String, StoreProduct>,
    /// 1 when created, one more on every change.
    pub version: u64,
    #[serde(serialize_with = "millis")]
    pub created: DateTime<Utc>,
    #[serde(serialize_with = "millis")]
    pub modified: DateTime<Utc>,
}

impl Product {
    /// The ID of a product created without one: `<packageID>_<billingPlanID>`, as the spec computes
    /// `productIDs` ("calculated on the fly using packageID_billingPlanID"). Too long when the two
    /// IDs together pass the identifier limit.
    pub fn default_id(package: &PackageId, plan: &BillingPlanId) -> Result<ProductId, IdError> {
        ProductId::parse(format!("{package}_{plan}"))
    }
}

/// `created`/`modified`: RFC 3339 in UTC with milliseconds and `Z`, as the spec's examples.
fn millis<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// Which products `Billing::list_products` returns (both filters must hold).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductFilter {
    pub package: Option<PackageId>,
    pub billing_plan: Option<BillingPlanId>,
}

/// Who still uses a billing plan: the first few of each kind, and how many in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanUsers {
    /// Products sold through the plan (by ID, at most 20).
    pub products: Vec<ProductId>,
    pub product_count: u64,
    /// Packages whose `billingPlanIDs` name the plan (by ID, at most 20).
    pub packages: Vec<PackageId>,
    pub package_count: u64,
}

impl PlanUsers {
    pub(super) fn is_empty(&self) -> bool {
        self.product_count == 0 && self.package_count == 0
    }
}

impl fmt::Display for PlanUsers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn names<T: fmt::Display>(items: &[T], total: u64) -> String {
            let shown: Vec<String> = items.iter().map(ToString::to_string).collect();
            match total.saturating_sub(shown.len() as u64) {
                0 => shown.join(", "),
                more => format!("{} and {more} more", shown.join(", ")),
            }
        }
        let mut parts = Vec::new();
        if self.product_count > 0 {
            parts.push(format!(
                "the product(s) {}",
                names(&self.products, self.product_count)
            ));
        }
        if self.package_count > 0 {
            parts.push(format!(
                "the billingPlanIDs of the package(s) {}",
                names(&self.packages, self.package_count)
            ));
        }
        f.write_str(&parts.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    #[test]
    fn periods_are_a_count_and_a_unit() {
        for (raw, count, unit) in [
            ("1M", 1, PeriodUnit::Month),
            ("1y", 1, PeriodUnit::Year),
            ("3d", 3, PeriodUnit::Day),
            ("2w", 2, PeriodUnit::Week),
            ("999d", 999, PeriodUnit::Day),
        ] {
            let period = Period::parse(raw).unwrap();
            assert_eq!((period.count(), period.unit()), (count, unit), "{raw}");
            assert_eq!(period.to_string(), raw);
        }
        for bad in [
            "", "M", "0M", "01M", "1000d", "1m", "1Y", "1D", "1", "-1M", "+1M", "1 M", " 1M",
            "1M ", "1.5M", "１M", "1h", "1MM",
        ] {
            assert_eq!(Period::parse(bad), Err(ValueError::Period), "{bad:?}");
        }
    }

    #[test]
    fn currencies_are_three_upper_case_letters() {
        for good in ["USD", "CAD", "BRL", "XXX"] {
            assert_eq!(Currency::parse(good).unwrap().as_str(), good);
        }
        for bad in ["usd", "US", "USDD", "U5D", "", "ÜSD", "US "] {
            assert_eq!(Currency::parse(bad), Err(ValueError::Currency), "{bad:?}");
        }
    }

    #[test]
    fn prices_are_non_negative_numbers_kept_as_written() {
        let price = |v: serde_json::Value| match v {
            serde_json::Value::Number(n) => Price::new(n),
            _ => unreachable!(),
        };
        for good in [
            json!(0),
            json!(1),
            json!(0.02),
            json!(3.99),
            json!(u64::MAX),
        ] {
            let p = price(good.clone()).unwrap();
            assert_eq!(serde_json::to_value(&p).unwrap(), good);
        }
        assert_eq!(price(json!(1)).unwrap().as_f64(), 1.0);
        for bad in [json!(-1), json!(-0.01), json!(-0.0)] {
            assert_eq!(price(bad.clone()), Err(ValueError::Price), "{bad}");
        }
        assert!(serde_json::from_str::<Price>("-2").is_err());
        assert!(serde_json::from_str::<Price>("\"2\"").is_err());
    }

    #[test]
    fn the_types_serialize_to_the_specs_shape() {
        let plan = BillingPlan {
            id: BillingPlanId::parse("TESTBP_2776").unwrap(),
            description: "s1".into(),
            recurrence: Period::parse("1y").unwrap(),
            prices: serde_json::from_value(json!({"Apple": {"USD": 3.99, "CAD": 1.49}})).unwrap(),
            trial_period: Some(TrialPeriod {
                cycle_length: Period::parse("3d").unwrap(),
                cycles: 1,
            }),
            custom_data: BTreeMap::new(),
        };
        assert_eq!(
            serde_json::to_value(&plan).unwrap(),
            json!({
                "id": "TESTBP_2776",
                "description": "s1",
                "recurrence": "1y",
                "prices": {"Apple": {"CAD": 1.49, "USD": 3.99}},
                "trialperiod": {"cycleLength": "3d", "cycles": 1},
                "customData": {},
            })
        );
        let at = Utc.with_ymd_and_hms(2019, 10, 6, 11, 35, 54).unwrap();
        let product = Product {
            id: ProductId::parse("p_b").unwrap(),
            package_id: PackageId::parse("p").unwrap(),
            billing_plan_id: BillingPlanId::parse("b").unwrap(),
            name: [("en".to_owned(), "N".to_owned())].into(),
            short_desc: BTreeMap::new(),
            long_desc: BTreeMap::new(),
            store_data: [(
                "Apple".to_owned(),
                StoreProduct {
                    store_product_id: "X".into(),
                    custom_data: BTreeMap::new(),
                },
            )]
            .into(),
            version: 1,
            created: at,
            modified: at + chrono::Duration::milliseconds(701),
        };
        assert_eq!(
            serde_json::to_value(&product).unwrap(),
            json!({
                "id": "p_b",
                "packageID": "p",
                "billingPlanID": "b",
                "name": {"en": "N"},
                "shortDesc": {},
                "longDesc": {},
                "storeData": {"Apple": {"storeProductID": "X", "customData": {}}},
                "version": 1,
                "created": "2019-10-06T11:35:54.000Z",
                "modified": "2019-10-06T11:35:54.701Z",
            })
        );
    }

    #[test]
    fn default_product_ids_join_package_and_plan() {
        let package = PackageId::parse("pkg").unwrap();
        let plan = BillingPlanId::parse("plan").unwrap();
        assert_eq!(
            Product::default_id(&package, &plan).unwrap().as_str(),
            "pkg_plan"
        );
        let long = PackageId::parse("p".repeat(200)).unwrap();
        let longer = BillingPlanId::parse("b".repeat(200)).unwrap();
        assert!(Product::default_id(&long, &longer).is_err());
    }

    #[test]
    fn plan_users_name_the_first_few() {
        let users = PlanUsers {
            products: vec![ProductId::parse("a").unwrap()],
            product_count: 3,
            packages: vec![PackageId::parse("p").unwrap()],
            package_count: 1,
        };
        assert_eq!(
            users.to_string(),
            "the product(s) a and 2 more; the billingPlanIDs of the package(s) p"
        );
    }
}

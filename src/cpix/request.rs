//! Parsing and validating a SPEKE v2 request (the rules are listed in the module doc of `cpix`).

use std::collections::HashSet;

use roxmltree::Node;

use super::model::{CpixRequest, DrmSystem, DrmSystemRequest, EncryptionScheme, Kid, RequestedKey};
use super::xml::{self, display_name, elements, is, quote_short, Element};
use super::{rejected, CpixError, NS_CPIX, NS_DS, SUPPORTED_VERSIONS};

/// Parses and validates a packager's SPEKE v2 request. See the module documentation for the rules.
pub fn parse_speke_request(body: &[u8]) -> Result<CpixRequest, CpixError> {
    let text = xml::body_text(body)?;
    let doc = xml::parse(text)?;
    let root = doc.root_element();

    let content_id = match root.attribute("contentId") {
        Some(id) if !id.trim().is_empty() => id.to_owned(),
        _ => return Err(rejected("Missing CPIX@contentId")),
    };
    let version = root
        .attribute("version")
        .ok_or_else(|| rejected("Missing CPIX@version"))?;
    if !SUPPORTED_VERSIONS.contains(&version) {
        return Err(rejected(format!(
            "Unsupported CPIX@version \"{}\" (supported: {})",
            quote_short(version, 16),
            SUPPORTED_VERSIONS.join(", ")
        )));
    }

    let mut lists: [Option<Node<'_, '_>>; 4] = [None; 4];
    const NAMES: [&str; 4] = [
        "ContentKeyList",
        "DRMSystemList",
        "ContentKeyPeriodList",
        "ContentKeyUsageRuleList",
    ];
    for child in elements(root) {
        if is(child, NS_CPIX, "DeliveryDataList") {
            return Err(rejected(
                "encrypted key delivery is not supported (DeliveryDataList); request clear keys",
            ));
        }
        if is(child, NS_CPIX, "UpdateHistoryItemList") {
            continue;
        }
        if is(child, NS_DS, "Signature") {
            return Err(rejected(
                "signed CPIX documents are not supported (ds:Signature)",
            ));
        }
        let slot = NAMES
            .iter()
            .position(|n| is(child, NS_CPIX, n))
            .ok_or_else(|| {
                rejected(format!(
                    "unexpected element {} in CPIX",
                    display_name(child)
                ))
            })?;
        if lists[slot].replace(child).is_some() {
            return Err(rejected(format!("more than one cpix:{}", NAMES[slot])));
        }
    }
    let [keys, drm, periods, rules] = lists;
    let keys = parse_keys(keys.ok_or_else(|| rejected("Missing cpix:ContentKeyList"))?)?;
    let drm_systems = parse_drm_systems(
        drm.ok_or_else(|| rejected("Missing cpix:DRMSystemList"))?,
        &keys,
    )?;
    let rules = rules.ok_or_else(|| rejected("Missing cpix:ContentKeyUsageRuleList"))?;
    check_usage_rules(rules, periods, &keys)?;

    Ok(CpixRequest {
        content_id,
        version: version.to_owned(),
        keys,
        drm_systems,
        periods: periods.map(Element::copy),
        usage_rules: Some(Element::copy(rules)),
    })
}

/// The `kid` attribute of `node` as a KID.
fn kid_of(node: Node<'_, '_>, element: &str) -> Result<Kid, CpixError> {
    let raw = node
        .attribute("kid")
        .ok_or_else(|| rejected(format!("Missing {element}@kid")))?;
    Kid::parse(raw).map_err(|e| rejected(format!("{element}@kid \"{}\" {e}", quote_short(raw, 40))))
}

fn parse_keys(list: Node<'_, '_>) -> Result<Vec<RequestedKey>, CpixError> {
    let mut keys: Vec<RequestedKey> = Vec::new();
    for node in elements(list) {
        if !is(node, NS_CPIX, "ContentKey") {
            return Err(unexpected(node, "ContentKeyList"));
        }
        let kid = kid_of(node, "ContentKey")?;
        if keys.iter().any(|k| k.kid == kid) {
            return Err(rejected(format!("duplicate ContentKey for KID {kid}")));
        }
        let scheme = match node.attribute("commonEncryptionScheme") {
            None => {
                return Err(rejected(format!(
                    "Missing ContentKey@commonEncryptionScheme for KID {kid}"
                )))
            }
            Some(raw) => EncryptionScheme::parse(raw).ok_or_else(|| {
                rejected(format!(
                    "Unsupported ContentKey@commonEncryptionScheme \"{}\" for KID {kid} \
                     (supported: cenc, cbc1, cens, cbcs)",
                    quote_short(raw, 16)
                ))
            })?,
        };
        let explicit_iv = match node.attribute("explicitIV") {
            None => None,
            Some(raw) => {
                let iv: [u8; 16] = xml::decode_base64(raw)
                    .and_then(|b| b.as_slice().try_into().ok())
                    .ok_or_else(|| {
                        rejected(format!(
                            "ContentKey@explicitIV for KID {kid} is not base64 of 16 bytes"
                        ))
                    })?;
                Some(iv)
            }
        };
        if let Some(child) = elements(node).next() {
            if is(child, NS_CPIX, "Data") {
                return Err(rejected(format!(
                    "ContentKey for KID {kid} carries a key value; a SPEKE request must not \
                     carry key values (the key provider supplies them)"
                )));
            }
            return Err(unexpected(child, "ContentKey"));
        }
        keys.push(RequestedKey {
            kid,
            scheme: Some(scheme),
            explicit_iv,
        });
    }
    let Some(first) = keys.first().and_then(|k| k.scheme) else {
        return Err(rejected("cpix:ContentKeyList has no ContentKey"));
    };
    if keys.iter().any(|k| k.scheme != Some(first)) {
        return Err(rejected(
            "Non compliant ContentKey@commonEncryptionScheme combination \
             (all content keys of a request must use the same scheme)",
        ));
    }
    Ok(keys)
}

fn parse_drm_systems(
    list: Node<'_, '_>,
    keys: &[RequestedKey],
) -> Result<Vec<DrmSystemRequest>, CpixError> {
    let mut out: Vec<DrmSystemRequest> = Vec::new();
    for node in elements(list) {
        if !is(node, NS_CPIX, "DRMSystem") {
            return Err(unexpected(node, "DRMSystemList"));
        }
        let kid = kid_of(node, "DRMSystem")?;
        let Some(key) = keys.iter().find(|k| k.kid == kid) else {
            return Err(rejected(format!(
                "DRMSystem names KID {kid}, which is not in cpix:ContentKeyList"
            )));
        };
        let raw_id = node
            .attribute("systemId")
            .ok_or_else(|| rejected(format!("Missing DRMSystem@systemId for KID {kid}")))?;
        let system = DrmSystem::from_system_id(raw_id).ok_or_else(|| {
            rejected(format!(
                "unknown DRMSystem@systemId \"{}\" for KID {kid} (supported: {})",
                quote_short(raw_id, 40),
                DrmSystem::ALL
                    .iter()
                    .map(|s| format!("{} {}", s.name(), s.system_id()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        if out.iter().any(|d| d.kid == kid && d.system == system) {
            return Err(rejected(format!(
                "more than one {} DRMSystem for KID {kid}",
                system.name()
            )));
        }
        check_scheme(system, key)?;
        out.push(parse_signalling(node, kid, system)?);
    }
    if out.is_empty() {
        return Err(rejected("cpix:DRMSystemList has no DRMSystem"));
    }
    Ok(out)
}

/// The schemes each DRM system can decrypt.
fn check_scheme(system: DrmSystem, key: &RequestedKey) -> Result<(), CpixError> {
    let Some(scheme) = key.scheme else {
        return Ok(());
    };
    let fits = match system {
        DrmSystem::FairPlay => scheme.is_cbc(),
        DrmSystem::PlayReady => matches!(scheme, EncryptionScheme::Cenc | EncryptionScheme::Cbcs),
        DrmSystem::Widevine => true,
    };
    if fits {
        Ok(())
    } else {
        Err(rejected(format!(
            "{} cannot be used with commonEncryptionScheme {} (KID {})",
            system.name(),
            scheme.as_str(),
            key.kid
        )))
    }
}

/// The signalling one `DRMSystem` asks for.
fn parse_signalling(
    node: Node<'_, '_>,
    kid: Kid,
    system: DrmSystem,
) -> Result<DrmSystemRequest, CpixError> {
    let mut req = DrmSystemRequest {
        kid,
        system,
        pssh: false,
        content_protection_data: false,
        hls_media: false,
        hls_master: false,
        smooth_streaming: false,
    };
    for child in elements(node) {
        let name = child.tag_name().name();
        let known = child.tag_name().namespace() == Some(NS_CPIX);
        if known && name == "URIExtXKey" {
            return Err(rejected(format!(
                "cpix:URIExtXKey is SPEKE v1 signalling; SPEKE v2 uses cpix:HLSSignalingData \
                 (KID {kid})"
            )));
        }
        let flag = match (known, name) {
            // FairPlay has neither: accepted and left out of the answer.
            (true, "PSSH" | "ContentProtectionData") if system == DrmSystem::FairPlay => None,
            (true, "PSSH") => Some(&mut req.pssh),
            (true, "ContentProtectionData") => Some(&mut req.content_protection_data),
            (true, "SmoothStreamingProtectionHeaderData") if system == DrmSystem::PlayReady => {
                Some(&mut req.smooth_streaming)
            }
            (true, "SmoothStreamingProtectionHeaderData") => {
                return Err(rejected(format!(
                    "SmoothStreamingProtectionHeaderData is PlayReady signalling; not \
                     available for {} (KID {kid})",
                    system.name()
                )))
            }
            (true, "HLSSignalingData") => match child.attribute("playlist") {
                Some("media") => Some(&mut req.hls_media),
                Some("master") => Some(&mut req.hls_master),
                other => {
                    return Err(rejected(format!(
                        "HLSSignalingData@playlist must be \"media\" or \"master\", not {} \
                         (KID {kid})",
                        other.map_or("missing".into(), |p| format!("\"{}\"", quote_short(p, 16)))
                    )))
                }
            },
            _ => return Err(unexpected(child, "DRMSystem")),
        };
        if !xml::is_empty(child) {
            return Err(rejected(format!(
                "{} must be empty in a request (KID {kid})",
                display_name(child)
            )));
        }
        if let Some(flag) = flag {
            *flag = true;
        }
    }
    Ok(req)
}

/// The usage rules: each names a listed KID, a track type and at least one filter; a `KeyPeriodFilter`
/// names a listed period (when the document lists periods). Within a period (the SPEKE v2 encryption
/// contract) each `intendedTrackType` appears once, and an `ALL` rule is the only rule, with
/// attribute-less video and audio filters.
fn check_usage_rules(
    list: Node<'_, '_>,
    periods: Option<Node<'_, '_>>,
    keys: &[RequestedKey],
) -> Result<(), CpixError> {
    let known: HashSet<Kid> = keys.iter().map(|k| k.kid).collect();
    let listed_periods: Option<HashSet<&str>> = periods.map(|list| {
        elements(list)
            .filter(|p| is(*p, NS_CPIX, "ContentKeyPeriod"))
            .filter_map(|p| p.attribute("id"))
            .collect()
    });
    let mut contracts: std::collections::HashMap<Option<&str>, Vec<&str>> =
        std::collections::HashMap::new();
    let mut count = 0;
    for node in elements(list) {
        if !is(node, NS_CPIX, "ContentKeyUsageRule") {
            return Err(unexpected(node, "ContentKeyUsageRuleList"));
        }
        count += 1;
        let kid = kid_of(node, "ContentKeyUsageRule")?;
        if !known.contains(&kid) {
            return Err(rejected(format!(
                "ContentKeyUsageRule names KID {kid}, which is not in cpix:ContentKeyList"
            )));
        }
        if node
            .attribute("intendedTrackType")
            .is_none_or(|t| t.trim().is_empty())
        {
            return Err(rejected(format!(
                "Missing ContentKeyUsageRule@intendedTrackType for KID {kid}"
            )));
        }
        if !elements(node).any(|f| is(f, NS_CPIX, "VideoFilter") || is(f, NS_CPIX, "AudioFilter")) {
            return Err(rejected(format!(
                "ContentKeyUsageRule for KID {kid} has no VideoFilter or AudioFilter"
            )));
        }
        let period = elements(node)
            .find(|f| is(*f, NS_CPIX, "KeyPeriodFilter"))
            .and_then(|f| f.attribute("periodId"));
        if let (Some(period), Some(listed)) = (period, &listed_periods) {
            if !listed.contains(period) {
                return Err(rejected(format!(
                    "KeyPeriodFilter of KID {kid} names period \"{}\", which is not in \
                     cpix:ContentKeyPeriodList",
                    quote_short(period, 64)
                )));
            }
        }
        let track = node.attribute("intendedTrackType").unwrap_or_default();
        if track == "ALL" {
            let plain = |name: &str| {
                elements(node).any(|f| is(f, NS_CPIX, name) && f.attributes().len() == 0)
            };
            if !plain("VideoFilter") || !plain("AudioFilter") {
                return Err(rejected(format!(
                    "the ALL ContentKeyUsageRule of KID {kid} must have a VideoFilter and an \
                     AudioFilter without attributes"
                )));
            }
        }
        contracts.entry(period).or_default().push(track);
    }
    for tracks in contracts.values() {
        let mut seen = HashSet::new();
        if let Some(repeated) = tracks.iter().find(|t| !seen.insert(**t)) {
            return Err(rejected(format!(
                "intendedTrackType \"{}\" appears in more than one ContentKeyUsageRule of a key period \
                 (each track type names one key)",
                quote_short(repeated, 32)
            )));
        }
        if tracks.len() > 1 && tracks.contains(&"ALL") {
            return Err(rejected(
                "an ALL ContentKeyUsageRule must be the only rule of its key period",
            ));
        }
    }
    if count == 0 {
        return Err(rejected(
            "cpix:ContentKeyUsageRuleList has no ContentKeyUsageRule",
        ));
    }
    Ok(())
}

fn unexpected(node: Node<'_, '_>, parent: &str) -> CpixError {
    rejected(format!(
        "unexpected element {} in cpix:{parent}",
        display_name(node)
    ))
}

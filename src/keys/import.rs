//! Parsers for key import files: JSON lines and CSV. A file is parsed whole before anything is stored,
//! and the first bad row rejects it, naming the line. Messages never quote key material.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use crate::ids::{AssetId, ContentId};

use super::lifetime::TokenLifetime;
use super::material::ContentKey;
use super::record::{KeyPolicy, NewContentKey};

/// The two import formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ImportFormat {
    /// One JSON object per line: `{"content_id", "key", "iv", "asset_id"?, "kid"?, "token_lifetime"?,
    /// "rental_duration_s"?}`.
    Jsonl,
    /// A header row `content_id,key,iv[,asset_id][,kid][,token_lifetime][,rental_duration_s]`, then one key
    /// per row.
    Csv,
}

impl ImportFormat {
    /// The format a file name suggests (`.csv`, `.jsonl`/`.ndjson`/`.json`).
    pub fn from_path(path: &Path) -> Option<Self> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "csv" => Some(ImportFormat::Csv),
            "jsonl" | "ndjson" | "json" => Some(ImportFormat::Jsonl),
            _ => None,
        }
    }
}

/// A rejected import file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}; nothing was imported")]
pub struct ImportError {
    /// 1-based line number in the file.
    pub line: usize,
    pub reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Row {
    content_id: String,
    key: String,
    iv: String,
    #[serde(default)]
    asset_id: Option<String>,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    token_lifetime: Option<String>,
    #[serde(default)]
    rental_duration_s: Option<u32>,
}

/// Parses a whole import file.
pub fn parse_import(text: &str, format: ImportFormat) -> Result<Vec<NewContentKey>, ImportError> {
    let rows = match format {
        ImportFormat::Jsonl => jsonl_rows(text)?,
        ImportFormat::Csv => csv_rows(text)?,
    };
    let mut first_seen: HashMap<String, usize> = HashMap::new();
    let mut keys = Vec::with_capacity(rows.len());
    for (line, row) in rows {
        if let Some(earlier) = first_seen.insert(row.content_id.clone(), line) {
            return Err(ImportError {
                line,
                reason: format!("content_id {:?} repeats line {earlier}", row.content_id),
            });
        }
        keys.push(to_key(row).map_err(|reason| ImportError { line, reason })?);
    }
    Ok(keys)
}

fn to_key(row: Row) -> Result<NewContentKey, String> {
    let content_id = ContentId::parse(row.content_id).map_err(|e| format!("content_id {e}"))?;
    let key = ContentKey::from_hex(&row.key, &row.iv).map_err(|e| e.to_string())?;
    let token_lifetime = row
        .token_lifetime
        .filter(|raw| !raw.trim().is_empty())
        .map(|raw| raw.trim().parse::<TokenLifetime>())
        .transpose()
        .map_err(|e| e.to_string())?;
    Ok(NewContentKey {
        content_id,
        key,
        policy: KeyPolicy {
            asset_id: row
                .asset_id
                .filter(|raw| !raw.trim().is_empty())
                .map(|raw| AssetId::parse(raw.trim()))
                .transpose()
                .map_err(|e| format!("asset_id {e}"))?,
            kid: row
                .kid
                .filter(|raw| !raw.trim().is_empty())
                .map(|raw| parse_key_id(raw.trim()))
                .transpose()?,
            packager_content_id: None,
            token_lifetime,
            rental_duration_s: row.rental_duration_s,
        },
    })
}

/// A key ID (KID) as written by hand: 32 hex digits, or a UUID with hyphens.
pub fn parse_key_id(raw: &str) -> Result<[u8; 16], String> {
    let digits: String = raw.chars().filter(|c| *c != '-').collect();
    let hyphens = raw.len() - digits.len();
    let mut kid = [0u8; 16];
    if (hyphens == 0 || (hyphens == 4 && uuid::Uuid::parse_str(raw).is_ok()))
        && hex::decode_to_slice(&digits, &mut kid).is_ok()
    {
        Ok(kid)
    } else {
        Err("kid must be 32 hex digits or a UUID".to_owned())
    }
}

fn jsonl_rows(text: &str) -> Result<Vec<(usize, Row)>, ImportError> {
    let mut rows = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let row: Row = serde_json::from_str(raw).map_err(|e| ImportError {
            line,
            reason: describe_json_error(&e),
        })?;
        rows.push((line, row));
    }
    Ok(rows)
}

/// A serde_json error without the offending value (which may be key material).
fn describe_json_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let kind = match e.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => "malformed JSON",
        serde_json::error::Category::Data if text.starts_with("missing field") => {
            return text
                .split(" at line")
                .next()
                .unwrap_or("missing field")
                .to_owned();
        }
        serde_json::error::Category::Data if text.starts_with("unknown field") => {
            let field = text.split('`').nth(1).unwrap_or("?");
            return format!("unknown field `{field}`");
        }
        serde_json::error::Category::Data => "a field has the wrong type or range",
        serde_json::error::Category::Io => "unreadable",
    };
    format!("{kind} (column {})", e.column())
}

fn csv_rows(text: &str) -> Result<Vec<(usize, Row)>, ImportError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header_error = |reason: String| ImportError { line: 1, reason };
    let headers = reader
        .headers()
        .map_err(|_| header_error("unreadable header row".to_owned()))?
        .clone();
    let column = |name: &str| headers.iter().position(|h| h == name);
    for header in headers.iter() {
        if ![
            "content_id",
            "key",
            "iv",
            "asset_id",
            "kid",
            "token_lifetime",
            "rental_duration_s",
        ]
        .contains(&header)
        {
            return Err(header_error(format!("unknown column {header:?}")));
        }
    }
    let (Some(id_col), Some(key_col), Some(iv_col)) =
        (column("content_id"), column("key"), column("iv"))
    else {
        return Err(header_error(
            "the header must name content_id, key and iv (optional: asset_id, kid, token_lifetime, \
             rental_duration_s)"
                .to_owned(),
        ));
    };
    let asset_col = column("asset_id");
    let kid_col = column("kid");
    let lifetime_col = column("token_lifetime");
    let rental_col = column("rental_duration_s");
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| ImportError {
            line: e.position().map_or(0, |p| p.line() as usize),
            reason: "malformed row (wrong number of fields or bad quoting)".to_owned(),
        })?;
        let line = record.position().map_or(0, |p| p.line() as usize);
        let cell = |col: usize| record.get(col).unwrap_or_default().to_owned();
        let optional = |col: Option<usize>| col.map(cell).filter(|v| !v.is_empty());
        let rental_duration_s = optional(rental_col)
            .map(|raw| raw.parse::<u32>())
            .transpose()
            .map_err(|_| ImportError {
                line,
                reason: "rental_duration_s must be a whole number of seconds".to_owned(),
            })?;
        rows.push((
            line,
            Row {
                content_id: cell(id_col),
                key: cell(key_col),
                iv: cell(iv_col),
                asset_id: optional(asset_col),
                kid: optional(kid_col),
                token_lifetime: optional(lifetime_col),
                rental_duration_s,
            },
        ));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "00112233445566778899aabbccddeeff";
    const IV: &str = "ffeeddccbbaa99887766554433221100";

    #[test]
    fn jsonl_with_optional_fields_and_blank_lines() {
        let text = format!(
            "{{\"content_id\":\"a\",\"key\":\"{KEY}\",\"iv\":\"{IV}\"}}\n\n\
             {{\"content_id\":\"b\",\"key\":\"{KEY}\",\"iv\":\"{IV}\",\"token_lifetime\":\"+60\",\"rental_duration_s\":30}}\n"
        );
        let keys = parse_import(&text, ImportFormat::Jsonl).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(
            keys[1].policy.token_lifetime,
            Some(TokenLifetime::Relative(60))
        );
        assert_eq!(keys[1].policy.rental_duration_s, Some(30));
    }

    #[test]
    fn asset_and_kid_columns_in_both_formats() {
        let kid = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
        let csv = format!("content_id,key,iv,asset_id,kid\na,{KEY},{IV},movie-1,{kid}\n");
        let jsonl = format!(
            "{{\"content_id\":\"a\",\"key\":\"{KEY}\",\"iv\":\"{IV}\",\"asset_id\":\"movie-1\",\"kid\":\"{}\"}}\n",
            kid.replace('-', "")
        );
        for (text, format) in [(csv, ImportFormat::Csv), (jsonl, ImportFormat::Jsonl)] {
            let keys = parse_import(&text, format).unwrap();
            assert_eq!(
                keys[0].policy.asset_id.as_ref().unwrap().as_str(),
                "movie-1"
            );
            assert_eq!(
                keys[0].policy.kid.map(hex::encode).as_deref(),
                Some("0f1e2d3c4b5a69788796a5b4c3d2e1f0"),
                "{format:?}"
            );
        }
        let bad = format!("content_id,key,iv,kid\na,{KEY},{IV},0f1e\n");
        let err = parse_import(&bad, ImportFormat::Csv).unwrap_err();
        assert_eq!(
            (err.line, err.reason.as_str()),
            (2, "kid must be 32 hex digits or a UUID")
        );
    }

    #[test]
    fn csv_with_header_and_optional_columns() {
        let text =
            format!("content_id,key,iv,rental_duration_s\na,{KEY},{IV},\n\"b,c\",{KEY},{IV},10\n");
        let keys = parse_import(&text, ImportFormat::Csv).unwrap();
        assert_eq!(keys[0].policy.rental_duration_s, None);
        assert_eq!(keys[1].content_id.as_str(), "b,c");
        assert_eq!(keys[1].policy.rental_duration_s, Some(10));
    }

    #[test]
    fn bad_rows_name_their_line_and_never_echo_material() {
        let short = &KEY[..30];
        let cases = [
            (
                format!("content_id,key,iv\na,{KEY},{IV}\nb,{short},{IV}\n"),
                ImportFormat::Csv,
                3,
            ),
            (format!("content_id,key,iv\na,{KEY}\n"), ImportFormat::Csv, 2),
            (format!("content_id,key\na,{KEY}\n"), ImportFormat::Csv, 1),
            (
                format!("{{\"content_id\":\"a\",\"key\":\"{KEY}\",\"iv\":\"{IV}\"}}\n{{\"content_id\":\"a\",\"key\":\"{KEY}\",\"iv\":\"{IV}\"}}"),
                ImportFormat::Jsonl,
                2,
            ),
            (
                format!("{{\"content_id\":\"a\",\"key\":\"{KEY}\",\"iv\":\"{IV}\"}}\n{{\"content_id\":\"b\",\"key\":\"{KEY}\"}}"),
                ImportFormat::Jsonl,
                2,
            ),
            (
                format!("{{\"content_id\":\"a\",\"key\":\"{KEY}\",\"iv\":\"{IV}\",\"rental_duration_s\":\"{KEY}\"}}"),
                ImportFormat::Jsonl,
                1,
            ),
            (format!("{{\"content_id\":\"a\",\"key\":\"{KEY}\",\"iv\":\"{IV}\""), ImportFormat::Jsonl, 1),
            (
                format!("{{\"content_id\":\"a\\u0000\",\"key\":\"{KEY}\",\"iv\":\"{IV}\"}}"),
                ImportFormat::Jsonl,
                1,
            ),
        ];
        for (text, format, line) in cases {
            let err = parse_import(&text, format).unwrap_err();
            assert_eq!(err.line, line, "{err} for {text:?}");
            let shown = err.to_string();
            assert!(
                !shown.contains(KEY) && !shown.contains(short) && !shown.contains(IV),
                "{shown}"
            );
        }
    }

    #[test]
    fn format_from_extension() {
        assert_eq!(
            ImportFormat::from_path(Path::new("k.CSV")),
            Some(ImportFormat::Csv)
        );
        assert_eq!(
            ImportFormat::from_path(Path::new("k.jsonl")),
            Some(ImportFormat::Jsonl)
        );
        assert_eq!(ImportFormat::from_path(Path::new("k.txt")), None);
    }
}

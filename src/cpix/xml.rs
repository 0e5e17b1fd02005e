//! Safe parsing (limits, no DTD), owned copies of elements to echo, and escaping writers.

use roxmltree::{Document, Node, ParsingOptions};

use super::{
    CpixError, MAX_DEPTH, MAX_NODES, NS_CENC, NS_CPIX, NS_DS, NS_MSPR, NS_PSKC, NS_XMLENC,
};

const NS_XML: &str = "http://www.w3.org/XML/1998/namespace";

/// Prefixes sees uses for namespaces it knows; `cpix` and `pskc` are declared on the root.
const KNOWN_PREFIXES: &[(&str, &str)] = &[
    (NS_CPIX, "cpix"),
    (NS_PSKC, "pskc"),
    (NS_XMLENC, "enc"),
    (NS_DS, "ds"),
    (NS_CENC, "cenc"),
    (NS_MSPR, "mspr"),
];

/// The request body as text: UTF-8, an optional byte-order mark dropped.
pub(crate) fn body_text(body: &[u8]) -> Result<&str, CpixError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| CpixError::Malformed("the CPIX document is not UTF-8 text".into()))?;
    Ok(text.strip_prefix('\u{feff}').unwrap_or(text))
}

/// Parses `text` with DTDs refused, at most `MAX_NODES` nodes and `MAX_DEPTH` levels, and checks
/// that the root element is `cpix:CPIX`. Error texts never quote the input.
pub(crate) fn parse(text: &str) -> Result<Document<'_>, CpixError> {
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
        ..ParsingOptions::default()
    };
    let doc = Document::parse_with_options(text, options).map_err(|e| {
        CpixError::Malformed(match e {
            roxmltree::Error::DtdDetected => {
                "DOCTYPE declarations are not accepted in CPIX documents".into()
            }
            roxmltree::Error::NodesLimitReached => {
                format!("the CPIX document has more than {MAX_NODES} nodes")
            }
            other => format!("the body is not well-formed XML (at {})", other.pos()),
        })
    })?;
    check_depth(&doc)?;
    let root = doc.root_element();
    if !is(root, NS_CPIX, "CPIX") {
        return Err(CpixError::Malformed(format!(
            "the root element is {}, not cpix:CPIX ({NS_CPIX})",
            display_name(root)
        )));
    }
    Ok(doc)
}

/// Refuses element nesting deeper than `MAX_DEPTH`, without recursion.
fn check_depth(doc: &Document<'_>) -> Result<(), CpixError> {
    // Nodes are numbered in document order, so a parent's depth is known before its children's.
    let mut depth = vec![0usize; doc.descendants().count()];
    for node in doc.descendants() {
        let Some(parent) = node.parent() else {
            continue;
        };
        let d = depth[parent.id().get_usize()] + usize::from(node.is_element());
        if d > MAX_DEPTH {
            return Err(CpixError::Malformed(format!(
                "the CPIX document nests elements deeper than {MAX_DEPTH} levels"
            )));
        }
        depth[node.id().get_usize()] = d;
    }
    Ok(())
}

/// Whether `node` is the element `{ns}name`.
pub(crate) fn is(node: Node<'_, '_>, ns: &str, name: &str) -> bool {
    node.is_element() && node.tag_name().namespace() == Some(ns) && node.tag_name().name() == name
}

/// The child elements of `node`.
pub(crate) fn elements<'a, 'i>(node: Node<'a, 'i>) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children().filter(Node::is_element)
}

/// Whether `node` has no child elements and only whitespace text.
pub(crate) fn is_empty(node: Node<'_, '_>) -> bool {
    node.children().all(|c| {
        if c.is_text() {
            c.text().is_none_or(|t| t.trim().is_empty())
        } else {
            !c.is_element()
        }
    })
}

/// A name for messages: `cpix:Local` for known namespaces, `{uri}Local` otherwise (shortened).
pub(crate) fn display_name(node: Node<'_, '_>) -> String {
    let name = node.tag_name();
    let shown = match name.namespace() {
        None => name.name().to_owned(),
        Some(ns) => match known_prefix(ns) {
            Some(p) => format!("{p}:{}", name.name()),
            None => format!("{{{ns}}}{}", name.name()),
        },
    };
    quote_short(&shown, 96)
}

/// At most `max` characters of `raw`, control characters escaped, `…` when cut.
pub(crate) fn quote_short(raw: &str, max: usize) -> String {
    let mut out: String = raw
        .chars()
        .take(max)
        .flat_map(char::escape_default)
        .collect();
    if raw.chars().count() > max {
        out.push('…');
    }
    out
}

fn known_prefix(ns: &str) -> Option<&'static str> {
    KNOWN_PREFIXES
        .iter()
        .find(|(uri, _)| *uri == ns)
        .map(|(_, p)| *p)
}

/// Decodes base64Binary text (whitespace allowed between characters).
pub(crate) fn decode_base64(text: &str) -> Option<zeroize::Zeroizing<Vec<u8>>> {
    use base64::Engine as _;
    let compact: zeroize::Zeroizing<Vec<u8>> =
        zeroize::Zeroizing::new(text.bytes().filter(|b| !b.is_ascii_whitespace()).collect());
    base64::engine::general_purpose::STANDARD
        .decode(&*compact)
        .ok()
        .map(zeroize::Zeroizing::new)
}

/// An owned copy of an element (comments and processing instructions dropped), to echo it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Element {
    pub ns: Option<String>,
    pub name: String,
    pub attrs: Vec<Attr>,
    pub children: Vec<Child>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attr {
    pub ns: Option<String>,
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Child {
    Element(Element),
    Text(String),
}

impl Element {
    /// Copies `node` and its subtree. Recursion is bounded by the parse's `MAX_DEPTH` check.
    pub fn copy(node: Node<'_, '_>) -> Element {
        let name = node.tag_name();
        Element {
            ns: name.namespace().map(str::to_owned),
            name: name.name().to_owned(),
            attrs: node
                .attributes()
                .map(|a| Attr {
                    ns: a.namespace().map(str::to_owned),
                    name: a.name().to_owned(),
                    value: a.value().to_owned(),
                })
                .collect(),
            children: node
                .children()
                .filter_map(|c| {
                    if c.is_element() {
                        Some(Child::Element(Element::copy(c)))
                    } else if c.is_text() {
                        c.text().map(|t| Child::Text(t.to_owned()))
                    } else {
                        None
                    }
                })
                .collect(),
        }
    }
}

/// An XML text being written. Only `cpix` and `pskc` are bound at the root; any other namespace of an
/// echoed element is declared on the element that first needs it (a known prefix, else `nsN`).
pub(crate) struct XmlOut {
    pub buf: String,
    scope: Vec<(String, String)>,
    /// Prefixes made up so far, so a namespace keeps one prefix throughout the document.
    generated: Vec<(String, String)>,
}

impl XmlOut {
    pub fn new(capacity: usize) -> Self {
        XmlOut {
            buf: String::with_capacity(capacity),
            scope: vec![
                (NS_CPIX.to_owned(), "cpix".to_owned()),
                (NS_PSKC.to_owned(), "pskc".to_owned()),
            ],
            generated: Vec::new(),
        }
    }

    /// The XML declaration.
    pub fn declaration(&mut self) {
        self.buf
            .push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    }

    /// `<qname`; attributes follow, then `>` or `/>`.
    pub fn open(&mut self, qname: &str) {
        self.buf.push('<');
        self.buf.push_str(qname);
    }

    /// ` name="value"`, value escaped.
    pub fn attr(&mut self, qname: &str, value: &str) {
        self.buf.push(' ');
        self.buf.push_str(qname);
        self.buf.push_str("=\"");
        escape_into(&mut self.buf, value, true);
        self.buf.push('"');
    }

    pub fn text(&mut self, text: &str) {
        escape_into(&mut self.buf, text, false);
    }

    /// `<qname>text</qname>` with `text` escaped.
    pub fn text_element(&mut self, qname: &str, attrs: &[(&str, &str)], text: &str) {
        self.open(qname);
        for (k, v) in attrs {
            self.attr(k, v);
        }
        self.buf.push('>');
        self.text(text);
        self.close(qname);
    }

    pub fn close(&mut self, qname: &str) {
        self.buf.push_str("</");
        self.buf.push_str(qname);
        self.buf.push('>');
    }

    /// Writes an echoed element and its subtree.
    pub fn element(&mut self, el: &Element) {
        let mark = self.scope.len();
        let mut declare: Vec<(String, String)> = Vec::new();
        let name = self.qualify(el.ns.as_deref(), &el.name, &mut declare);
        let attrs: Vec<(String, &str)> = el
            .attrs
            .iter()
            .map(|a| {
                (
                    self.qualify(a.ns.as_deref(), &a.name, &mut declare),
                    a.value.as_str(),
                )
            })
            .collect();
        self.open(&name);
        for (uri, prefix) in &declare {
            self.attr(&format!("xmlns:{prefix}"), uri);
        }
        for (qname, value) in &attrs {
            self.attr(qname, value);
        }
        if el.children.is_empty() {
            self.buf.push_str("/>");
        } else {
            self.buf.push('>');
            for child in &el.children {
                match child {
                    Child::Element(e) => self.element(e),
                    Child::Text(t) => self.text(t),
                }
            }
            self.close(&name);
        }
        self.scope.truncate(mark);
    }

    /// The qualified name of `{ns}local`, binding a prefix for `ns` on this element when needed.
    fn qualify(
        &mut self,
        ns: Option<&str>,
        local: &str,
        declare: &mut Vec<(String, String)>,
    ) -> String {
        let Some(ns) = ns else {
            return local.to_owned();
        };
        if ns == NS_XML {
            return format!("xml:{local}");
        }
        if let Some((_, p)) = self.scope.iter().rev().find(|(uri, _)| uri == ns) {
            return format!("{p}:{local}");
        }
        let prefix = match known_prefix(ns) {
            Some(p) => p.to_owned(),
            None => match self.generated.iter().find(|(uri, _)| uri == ns) {
                Some((_, p)) => p.clone(),
                None => {
                    let p = format!("ns{}", self.generated.len() + 1);
                    self.generated.push((ns.to_owned(), p.clone()));
                    p
                }
            },
        };
        self.scope.push((ns.to_owned(), prefix.clone()));
        declare.push((ns.to_owned(), prefix.clone()));
        format!("{prefix}:{local}")
    }
}

/// Escapes `&`, `<`, `>` (and `"`, tab and line ends in attributes, `\r` in text); drops characters
/// XML 1.0 cannot carry (other C0 controls, which parsed input never holds).
pub(crate) fn escape_into(out: &mut String, raw: &str, attribute: bool) {
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\t' if attribute => out.push_str("&#9;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
}

/// `raw` escaped for XML text or attribute values.
pub(crate) fn escape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    escape_into(&mut out, raw, true);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_quotes_and_controls() {
        assert_eq!(
            escape("a&b<c>\"d'\t\n\r\u{1}"),
            "a&amp;b&lt;c&gt;&quot;d'&#9;&#10;&#13;"
        );
        let mut text = String::new();
        escape_into(&mut text, "x\"\ty\n<", false);
        assert_eq!(text, "x\"\ty\n&lt;");
    }

    #[test]
    fn foreign_namespaces_are_declared_where_first_used() {
        let doc = Document::parse(
            r#"<r xmlns:a="urn:a" xmlns:c="urn:dashif:org:cpix" xml:lang="en" a:k="v &amp; &quot;w&quot;">
                 <a:x><a:y b:z="1" xmlns:b="urn:b">t&lt;</a:y></a:x><c:P/><plain q="1"/><b:w xmlns:b="urn:b"/></r>"#,
        )
        .unwrap();
        let el = Element::copy(doc.root_element());
        let mut out = XmlOut::new(0);
        out.open("cpix:W");
        out.attr("xmlns:cpix", NS_CPIX);
        out.attr("xmlns:pskc", NS_PSKC);
        out.buf.push('>');
        out.element(&el);
        out.close("cpix:W");
        let written = out.buf.clone();
        let again = Document::parse(&written).unwrap();
        let copy = again.root_element().first_element_child().unwrap();
        assert_eq!(Element::copy(copy), el, "{written}");
        assert!(written.contains("<cpix:P/>"), "{written}");
        assert!(written.contains("xml:lang=\"en\""), "{written}");
        assert!(!written.contains("xmlns:xml"), "{written}");
        // urn:a declared once on the element that first needs it, urn:b on its own element.
        assert_eq!(written.matches("=\"urn:a\"").count(), 1, "{written}");
        assert!(
            written.contains("<ns1:x><ns1:y xmlns:ns2=\"urn:b\" ns2:z=\"1\">"),
            "{written}"
        );
        // The same namespace keeps its made-up prefix in a later sibling.
        assert!(
            written.contains("<ns2:w xmlns:ns2=\"urn:b\"/>"),
            "{written}"
        );
    }

    #[test]
    fn base64_tolerates_whitespace_only() {
        assert_eq!(
            decode_base64(" AAEC\nAw== ").unwrap().as_slice(),
            &[0, 1, 2, 3]
        );
        assert!(decode_base64("AAECAw=").is_none());
        assert!(decode_base64("not base64!").is_none());
    }
}

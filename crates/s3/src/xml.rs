//! The XML S3 speaks: answers written as strings with escaping, and request bodies
//! (`CompleteMultipartUpload`, `Delete`, `CreateBucketConfiguration`) read into a small tree,
//! bounded in size and depth.

use quick_xml::events::Event;

/// S3's namespace, on every answer's root element.
pub const NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// Escapes text for an element's content.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters are not allowed in XML 1.0; S3 writes them as references.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {
                out.push_str(&format!("&#x{:X};", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

/// `<name>text</name>`, the text escaped.
pub fn el(name: &str, text: &str) -> String {
    format!("<{name}>{}</{name}>", escape(text))
}

/// `<name>children</name>`, the children already XML.
pub fn parent(name: &str, children: &[String]) -> String {
    let mut out = format!("<{name}>");
    for c in children {
        out.push_str(c);
    }
    out.push_str(&format!("</{name}>"));
    out
}

/// A whole answer: the declaration and the root element (in S3's namespace when `ns`).
pub fn document(root: &str, ns: Option<&str>, children: &[String]) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    match ns {
        Some(ns) => out.push_str(&format!("<{root} xmlns=\"{ns}\">")),
        None => out.push_str(&format!("<{root}>")),
    }
    for c in children {
        out.push_str(c);
    }
    out.push_str(&format!("</{root}>"));
    out
}

/// An element of a request body.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Element {
    /// Its local name (namespace prefix dropped).
    pub name: String,
    /// Its text, unescaped and exact (empty for elements with children).
    pub text: String,
    /// Its child elements in order.
    pub children: Vec<Element>,
}

impl Element {
    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child named `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The text of the first child named `name`.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }
}

/// Deepest nesting a request body may have.
const MAX_DEPTH: usize = 16;
/// Most elements a request body may have (a 10 000-part completion has ~30 000).
const MAX_ELEMENTS: usize = 64 * 1024;

/// Reads a request body into its root element; anything that is not one well-formed element
/// tree (or is too deep or too large) is `MalformedXML`.
pub fn parse(body: &[u8]) -> Result<Element, crate::S3Error> {
    let bad = |why: String| {
        crate::S3Error::malformed_xml(format!(
            "the XML is not well-formed or did not validate: {why}"
        ))
    };
    let mut reader = quick_xml::Reader::from_reader(body);
    reader.config_mut().trim_text(false);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    let mut buf = Vec::new();
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| bad(e.to_string()))?;
        match event {
            Event::Start(start) | Event::Empty(start) if root.is_some() => {
                let _ = start;
                return Err(bad("content after the root element".into()));
            }
            Event::Start(start) => {
                count += 1;
                if stack.len() >= MAX_DEPTH || count > MAX_ELEMENTS {
                    return Err(bad("too deep or too many elements".into()));
                }
                let name = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
                stack.push(Element {
                    name,
                    ..Element::default()
                });
            }
            Event::Empty(start) => {
                count += 1;
                if count > MAX_ELEMENTS {
                    return Err(bad("too many elements".into()));
                }
                let name = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
                let e = Element {
                    name,
                    ..Element::default()
                };
                match stack.last_mut() {
                    Some(p) => p.children.push(e),
                    None => root = Some(e),
                }
            }
            Event::End(_) => {
                let Some(mut e) = stack.pop() else {
                    return Err(bad("unbalanced end tag".into()));
                };
                // Text beside child elements is only layout.
                if !e.children.is_empty() {
                    e.text.clear();
                }
                match stack.last_mut() {
                    Some(p) => p.children.push(e),
                    None => root = Some(e),
                }
            }
            Event::Text(t) => {
                if let Some(e) = stack.last_mut() {
                    let text = t.decode().map_err(|e| bad(e.to_string()))?;
                    let text =
                        quick_xml::escape::unescape(&text).map_err(|e| bad(e.to_string()))?;
                    e.text.push_str(&text);
                }
            }
            Event::GeneralRef(r) => {
                if let Some(e) = stack.last_mut() {
                    let name = r.decode().map_err(|e| bad(e.to_string()))?;
                    let reference = format!("&{name};");
                    let text =
                        quick_xml::escape::unescape(&reference).map_err(|e| bad(e.to_string()))?;
                    e.text.push_str(&text);
                }
            }
            Event::CData(t) => {
                if let Some(e) = stack.last_mut() {
                    e.text.push_str(&String::from_utf8_lossy(&t));
                }
            }
            Event::Eof => break,
            Event::DocType(_) => return Err(bad("document type declarations are refused".into())),
            _ => {}
        }
        buf.clear();
    }
    if !stack.is_empty() {
        return Err(bad("unclosed element".into()));
    }
    root.ok_or_else(|| bad("no root element".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_parse_and_hostile_ones_are_malformed() {
        let doc = br#"<?xml version="1.0" encoding="UTF-8"?>
<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Part><PartNumber>1</PartNumber><ETag>"a&amp;b"</ETag></Part>
  <Part><PartNumber>2</PartNumber><ETag>&quot;c&quot;</ETag></Part>
</CompleteMultipartUpload>"#;
        let root = parse(doc).unwrap();
        assert_eq!(root.name, "CompleteMultipartUpload");
        let parts: Vec<_> = root.all("Part").collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].text_of("ETag"), Some("\"a&b\""));
        assert_eq!(parts[1].text_of("ETag"), Some("\"c\""));
        assert_eq!(parts[1].text_of("PartNumber"), Some("2"));

        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert_eq!(parse(deep.as_bytes()).unwrap_err().code, "MalformedXML");
        assert_eq!(parse(b"<a><b></a>").unwrap_err().code, "MalformedXML");
        assert_eq!(parse(b"").unwrap_err().code, "MalformedXML");
        assert_eq!(parse(b"<a/><b/>").unwrap_err().code, "MalformedXML");
        let bomb = br#"<!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>"#;
        assert_eq!(parse(bomb).unwrap_err().code, "MalformedXML");
    }

    #[test]
    fn answers_escape_text() {
        assert_eq!(
            el("Key", "a<b>&\"'\u{1}"),
            "<Key>a&lt;b&gt;&amp;&quot;&apos;&#x1;</Key>"
        );
        let d = document("R", Some(NS), &[el("A", "1")]);
        assert!(d.ends_with("<R xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><A>1</A></R>"));
    }
}

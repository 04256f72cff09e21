//! `Export-Clixml` documents (PowerShell serialization, MS-PSRP 2.2.5) decoded to [`PsValue`]s.
//!
//! Real exports are what Exchange admins already have (`Get-AuthConfig | Export-Clixml`), so this
//! reader accepts everything the serializer writes: `<Obj>` with `<TN>`/`<TNRef>` type names,
//! `<ToString>`, `<Props>` and `<MS>`; all primitive elements; lists and dictionaries; `<Ref>` to an
//! earlier object; `_xHHHH_` escapes. `SerializationData` blobs (Exchange's opaque binary
//! serialization, most of a file's bytes) are skipped without decoding.
//!
//! The input is untrusted: a DOCTYPE is refused outright (no entity expansion of any kind), element
//! nesting is capped at [`MAX_DEPTH`] (which also bounds recursion here), and `<Ref>` copies count
//! against a budget of [`MAX_NODES`] values so a "billion laughs" of references cannot explode.
//! Errors are one line, prefixed `CliXml:`, and name the line of the document.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use quick_xml::errors::{Error as XmlError, IllFormedError, SyntaxError};
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

use super::one_line;
use super::psvalue::{PsObject, PsValue, decode_base64, parse_datetime, quoted};

/// Deepest element nesting accepted. Real exports nest about 10 levels (an object two properties
/// deep is `Objs/Obj/Props/Obj/LST/Obj/Props/S`).
pub const MAX_DEPTH: usize = 64;

/// Most values a document may hold, counting each `<Ref>` as a copy of what it refers to.
pub const MAX_NODES: usize = 10_000_000;

/// Decodes an `Export-Clixml` document: the values directly under `<Objs>`, in order.
pub fn parse(text: &str) -> Result<Vec<PsValue>, String> {
    Parser::new(text)
        .document()
        .map_err(|reason| format!("CliXml: {reason}"))
}

/// Decodes the serializer's `_xHHHH_` escapes (control characters, `_x000D__x000A_` for CRLF,
/// `_x005F_` for an underscore that would otherwise start an escape). Consecutive escapes of a
/// UTF-16 surrogate pair form one character; a lone surrogate becomes U+FFFD.
pub fn decode_escapes(text: &str) -> Cow<'_, str> {
    if !text.contains("_x") {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut units: Vec<u16> = Vec::new();
    let mut copied_to = 0;
    let mut at = 0;
    while at < bytes.len() {
        match escape_at(bytes, at) {
            Some(unit) => {
                // `at` and `copied_to` are at ASCII bytes or the end, so both are char boundaries.
                out.push_str(text.get(copied_to..at).unwrap_or_default());
                units.push(unit);
                at += 7;
                copied_to = at;
                if escape_at(bytes, at).is_none() {
                    out.extend(
                        char::decode_utf16(units.drain(..))
                            .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)),
                    );
                }
            }
            None => at += 1,
        }
    }
    out.push_str(text.get(copied_to..).unwrap_or_default());
    Cow::Owned(out)
}

/// The UTF-16 unit of an `_xHHHH_` escape starting at `at`.
fn escape_at(bytes: &[u8], at: usize) -> Option<u16> {
    match bytes.get(at..at.checked_add(7)?)? {
        [b'_', b'x', digits @ .., b'_'] => {
            let digits = std::str::from_utf8(digits).ok()?;
            if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            u16::from_str_radix(digits, 16).ok()
        }
        _ => None,
    }
}

/// `decode_escapes` without copying text that has no escapes.
fn decode_owned(text: Cow<'_, str>) -> String {
    let bytes = text.as_bytes();
    let may_escape = bytes
        .iter()
        .enumerate()
        .any(|(at, b)| *b == b'_' && bytes.get(at + 1) == Some(&b'x'));
    if may_escape {
        decode_escapes(&text).into_owned()
    } else {
        text.into_owned()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Objs,
    Obj,
    Ref,
    Tn,
    TnRef,
    T,
    ToString,
    Props,
    Ms,
    List,
    Dct,
    En,
    Nil,
    Prim(Prim),
    Other,
}

impl Kind {
    fn of(name: &str) -> Kind {
        // Most frequent first: this runs for every element.
        if let Some(prim) = Prim::of(name) {
            return Kind::Prim(prim);
        }
        match name {
            "Obj" => Kind::Obj,
            "T" => Kind::T,
            "TNRef" => Kind::TnRef,
            "ToString" => Kind::ToString,
            "Props" => Kind::Props,
            "MS" => Kind::Ms,
            "Nil" => Kind::Nil,
            "TN" => Kind::Tn,
            "LST" | "IE" | "STK" | "QUE" => Kind::List,
            "Ref" => Kind::Ref,
            "DCT" => Kind::Dct,
            "En" => Kind::En,
            "Objs" => Kind::Objs,
            _ => Kind::Other,
        }
    }

    /// Whether `N` or `RefId` can matter on this element.
    fn has_attributes(self) -> bool {
        !matches!(
            self,
            Kind::T | Kind::ToString | Kind::Props | Kind::Ms | Kind::En | Kind::Objs | Kind::Other
        )
    }
}

/// The primitive elements of MS-PSRP 2.2.5.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prim {
    S,
    B,
    Dt,
    Ts,
    By,
    Sb,
    I16,
    I32,
    I64,
    U16,
    U32,
    U64,
    Db,
    D,
    Sg,
    Ba,
    G,
    Uri,
    Version,
    C,
    Xd,
    Sbk,
    Ss,
}

impl Prim {
    fn of(name: &str) -> Option<Prim> {
        Some(match name {
            "S" => Prim::S,
            "B" => Prim::B,
            "DT" => Prim::Dt,
            "TS" => Prim::Ts,
            "By" => Prim::By,
            "SB" => Prim::Sb,
            "I16" => Prim::I16,
            "I32" => Prim::I32,
            "I64" => Prim::I64,
            "U16" => Prim::U16,
            "U32" => Prim::U32,
            "U64" => Prim::U64,
            "Db" => Prim::Db,
            "D" => Prim::D,
            "Sg" => Prim::Sg,
            "BA" => Prim::Ba,
            "G" => Prim::G,
            "URI" => Prim::Uri,
            "Version" => Prim::Version,
            "C" => Prim::C,
            "XD" => Prim::Xd,
            "SBK" => Prim::Sbk,
            "SS" => Prim::Ss,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Prim::S => "S",
            Prim::B => "B",
            Prim::Dt => "DT",
            Prim::Ts => "TS",
            Prim::By => "By",
            Prim::Sb => "SB",
            Prim::I16 => "I16",
            Prim::I32 => "I32",
            Prim::I64 => "I64",
            Prim::U16 => "U16",
            Prim::U32 => "U32",
            Prim::U64 => "U64",
            Prim::Db => "Db",
            Prim::D => "D",
            Prim::Sg => "Sg",
            Prim::Ba => "BA",
            Prim::G => "G",
            Prim::Uri => "URI",
            Prim::Version => "Version",
            Prim::C => "C",
            Prim::Xd => "XD",
            Prim::Sbk => "SBK",
            Prim::Ss => "SS",
        }
    }
}

/// An element's kind and the two attributes MS-PSRP uses.
struct Tag {
    kind: Kind,
    /// `N`: the property name, escapes decoded.
    name: Option<String>,
    ref_id: Option<String>,
}

enum Ev<'a> {
    Open(Tag, bool),
    Close,
    Text(Cow<'a, str>),
    Eof,
}

/// What a `RefId` of an `<Obj>` stands for.
enum Slot {
    /// Still being read: a `<Ref>` to it is a cycle.
    Pending,
    /// The value and how many values it counts for.
    Done(PsValue, usize),
}

struct Parser<'a> {
    text: &'a str,
    reader: Reader<&'a [u8]>,
    depth: usize,
    type_names: HashMap<String, Arc<[String]>>,
    objects: HashMap<String, Slot>,
    nodes: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Parser<'a> {
        Parser {
            text,
            reader: Reader::from_str(text),
            depth: 0,
            type_names: HashMap::new(),
            objects: HashMap::new(),
            nodes: 0,
        }
    }

    fn document(&mut self) -> Result<Vec<PsValue>, String> {
        let items = loop {
            match self.next()? {
                Ev::Open(tag, empty) if tag.kind == Kind::Objs => break self.items(empty)?,
                Ev::Open(..) => return Err(self.at("the root element is not <Objs>")),
                Ev::Text(text) if !text.trim().is_empty() => {
                    return Err(self.at("text before the <Objs> root element"));
                }
                Ev::Text(_) => {}
                Ev::Close => return Err(self.at("unexpected end tag")),
                Ev::Eof => return Err("no <Objs> root element".into()),
            }
        };
        loop {
            match self.next()? {
                Ev::Eof => return Ok(items),
                Ev::Open(..) => return Err(self.at("a second root element after </Objs>")),
                Ev::Text(_) | Ev::Close => {}
            }
        }
    }

    /// The next event that matters, with depth tracking and the DOCTYPE refusal.
    fn next(&mut self) -> Result<Ev<'a>, String> {
        loop {
            let event = match self.reader.read_event() {
                Ok(event) => event,
                Err(error) => return Err(self.xml_error(&error)),
            };
            return Ok(match event {
                Event::Start(start) => {
                    let tag = self.open(&start)?;
                    self.depth += 1;
                    Ev::Open(tag, false)
                }
                Event::Empty(start) => Ev::Open(self.open(&start)?, true),
                Event::End(_) => {
                    self.depth = self.depth.saturating_sub(1);
                    Ev::Close
                }
                Event::Text(text) => Ev::Text(text.xml10_content()),
                Event::CData(data) => Ev::Text(data.xml10_content()),
                Event::GeneralRef(reference) => Ev::Text(Cow::Owned(self.entity(&reference)?)),
                Event::DocType(_) => return Err(self.doctype()),
                Event::Comment(_) | Event::Decl(_) | Event::PI(_) => continue,
                Event::Eof if self.depth > 0 => return Err(self.eof()),
                Event::Eof => Ev::Eof,
            });
        }
    }

    fn open(&self, start: &BytesStart<'_>) -> Result<Tag, String> {
        if self.depth >= MAX_DEPTH {
            return Err(self.at(&format!(
                "elements nested deeper than {MAX_DEPTH} levels; refusing the document"
            )));
        }
        let mut tag = Tag {
            kind: Kind::of(start.local_name().as_ref()),
            name: None,
            ref_id: None,
        };
        if !tag.kind.has_attributes() {
            return Ok(tag);
        }
        for attribute in start.attributes() {
            let attribute =
                attribute.map_err(|e| self.at(&format!("malformed attribute ({e})")))?;
            let key = attribute.key.local_name();
            let is_name = key.as_ref() == "N";
            if !is_name && key.as_ref() != "RefId" {
                continue;
            }
            let value = attribute
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|e| self.at(&format!("malformed attribute value ({e})")))?;
            if is_name {
                tag.name = Some(decode_owned(value));
            } else {
                tag.ref_id = Some(value.into_owned());
            }
        }
        Ok(tag)
    }

    /// `&lt;` and friends and character references; anything else would need a DTD.
    fn entity(&self, reference: &BytesRef<'_>) -> Result<String, String> {
        match reference.resolve_char_ref() {
            Ok(Some(c)) => return Ok(c.to_string()),
            Ok(None) => {}
            Err(_) => {
                return Err(self.at(&format!(
                    "invalid character reference &{};",
                    shortened(reference.as_ref())
                )));
            }
        }
        Ok(match reference.as_ref() {
            "lt" => "<",
            "gt" => ">",
            "amp" => "&",
            "apos" => "'",
            "quot" => "\"",
            other => {
                return Err(self.at(&format!(
                    "undefined entity &{}; (only the five XML entities are allowed)",
                    shortened(other)
                )));
            }
        }
        .to_string())
    }

    /// The children of `<Objs>` or a list, as values.
    fn items(&mut self, empty: bool) -> Result<Vec<PsValue>, String> {
        let mut items = Vec::new();
        if empty {
            return Ok(items);
        }
        loop {
            match self.next()? {
                Ev::Open(tag, child_empty) => {
                    if let Some(value) = self.value(&tag, child_empty)? {
                        items.push(value);
                    }
                }
                Ev::Close => return Ok(items),
                Ev::Text(_) => {}
                Ev::Eof => return Err(self.eof()),
            }
        }
    }

    /// One value element; `None` for elements that carry no value (unknown ones are skipped so
    /// that a newer serializer's additions do not make a whole export unreadable).
    fn value(&mut self, tag: &Tag, empty: bool) -> Result<Option<PsValue>, String> {
        Ok(Some(match tag.kind {
            Kind::Obj => self.object(tag, empty)?,
            Kind::Ref => {
                let value = self.reference(tag)?;
                self.skip(empty)?;
                value
            }
            Kind::Nil => {
                self.charge(1)?;
                self.skip(empty)?;
                PsValue::Null
            }
            Kind::Prim(prim) => {
                self.charge(1)?;
                let text = self.text(empty)?;
                self.primitive(prim, tag, text)?
            }
            Kind::List => {
                self.charge(1)?;
                PsValue::List(self.items(empty)?)
            }
            Kind::Dct => {
                self.charge(1)?;
                let mut properties = Vec::new();
                self.dictionary(&mut properties, empty)?;
                PsValue::Object(Arc::new(PsObject {
                    properties,
                    ..PsObject::default()
                }))
            }
            _ => {
                self.skip(empty)?;
                return Ok(None);
            }
        }))
    }

    fn object(&mut self, tag: &Tag, empty: bool) -> Result<PsValue, String> {
        let first_node = self.nodes;
        self.charge(1)?;
        if let Some(id) = &tag.ref_id {
            self.objects.insert(id.clone(), Slot::Pending);
        }
        let mut object = PsObject::default();
        if !empty {
            loop {
                match self.next()? {
                    Ev::Open(child, child_empty) => match child.kind {
                        Kind::Tn => object.type_names = self.type_names(&child, child_empty)?,
                        Kind::TnRef => {
                            object.type_names = self.type_name_ref(&child)?;
                            self.skip(child_empty)?;
                        }
                        Kind::ToString => {
                            object.to_string = Some(decode_owned(self.text(child_empty)?));
                        }
                        Kind::Props | Kind::Ms => {
                            self.properties(&mut object.properties, child_empty)?;
                        }
                        Kind::Dct => self.dictionary(&mut object.properties, child_empty)?,
                        _ => {
                            if let Some(value) = self.value(&child, child_empty)? {
                                object.value = Some(value);
                            }
                        }
                    },
                    Ev::Close => break,
                    Ev::Text(_) => {}
                    Ev::Eof => return Err(self.eof()),
                }
            }
        }
        let value = PsValue::Object(Arc::new(object));
        if let Some(slot) = tag.ref_id.as_ref().and_then(|id| self.objects.get_mut(id)) {
            *slot = Slot::Done(value.clone(), self.nodes.saturating_sub(first_node));
        }
        Ok(value)
    }

    /// `<Ref RefId>`: the earlier object, shared. A reference to an object still being read (a
    /// cycle, which the serializer writes for self-referencing objects) reads as null.
    fn reference(&mut self, tag: &Tag) -> Result<PsValue, String> {
        let Some(id) = &tag.ref_id else {
            return Err(self.at("<Ref> without RefId"));
        };
        let (value, nodes) = match self.objects.get(id) {
            Some(Slot::Done(value, nodes)) => (value.clone(), *nodes),
            Some(Slot::Pending) => (PsValue::Null, 1),
            None => {
                return Err(self.at(&format!(
                    "<Ref RefId={}> refers to no earlier object",
                    quoted(id)
                )));
            }
        };
        self.charge(nodes)?;
        Ok(value)
    }

    fn type_names(&mut self, tag: &Tag, empty: bool) -> Result<Arc<[String]>, String> {
        let mut names = Vec::new();
        if !empty {
            loop {
                match self.next()? {
                    Ev::Open(child, child_empty) if child.kind == Kind::T => {
                        let name = decode_owned(self.text(child_empty)?);
                        names.push(match name.strip_prefix("Deserialized.") {
                            Some(rest) => rest.to_string(),
                            None => name,
                        });
                    }
                    Ev::Open(_, child_empty) => self.skip(child_empty)?,
                    Ev::Close => break,
                    Ev::Text(_) => {}
                    Ev::Eof => return Err(self.eof()),
                }
            }
        }
        let names: Arc<[String]> = names.into();
        if let Some(id) = &tag.ref_id {
            self.type_names.insert(id.clone(), names.clone());
        }
        Ok(names)
    }

    fn type_name_ref(&self, tag: &Tag) -> Result<Arc<[String]>, String> {
        let Some(id) = &tag.ref_id else {
            return Err(self.at("<TNRef> without RefId"));
        };
        self.type_names.get(id).cloned().ok_or_else(|| {
            self.at(&format!(
                "<TNRef RefId={}> refers to no earlier <TN>",
                quoted(id)
            ))
        })
    }

    /// `<Props>` or `<MS>`: named values appended to `out`.
    fn properties(&mut self, out: &mut Vec<(String, PsValue)>, empty: bool) -> Result<(), String> {
        if empty {
            return Ok(());
        }
        loop {
            match self.next()? {
                Ev::Open(child, child_empty) => {
                    if child.kind == Kind::Prim(Prim::Ba)
                        && child.name.as_deref() == Some("SerializationData")
                    {
                        self.skip(child_empty)?;
                        continue;
                    }
                    if let Some(value) = self.value(&child, child_empty)? {
                        out.push((child.name.unwrap_or_default(), value));
                    }
                }
                Ev::Close => return Ok(()),
                Ev::Text(_) => {}
                Ev::Eof => return Err(self.eof()),
            }
        }
    }

    /// `<DCT>`: each `<En>` becomes a property named by its key.
    fn dictionary(&mut self, out: &mut Vec<(String, PsValue)>, empty: bool) -> Result<(), String> {
        if empty {
            return Ok(());
        }
        loop {
            match self.next()? {
                Ev::Open(child, child_empty) if child.kind == Kind::En => {
                    if let Some(entry) = self.entry(child_empty)? {
                        out.push(entry);
                    }
                }
                Ev::Open(_, child_empty) => self.skip(child_empty)?,
                Ev::Close => return Ok(()),
                Ev::Text(_) => {}
                Ev::Eof => return Err(self.eof()),
            }
        }
    }

    fn entry(&mut self, empty: bool) -> Result<Option<(String, PsValue)>, String> {
        let (mut key, mut value) = (None, None);
        if !empty {
            loop {
                match self.next()? {
                    Ev::Open(child, child_empty) => {
                        let item = self.value(&child, child_empty)?;
                        match child.name.as_deref() {
                            Some(role) if role.eq_ignore_ascii_case("Key") => key = item,
                            Some(role) if role.eq_ignore_ascii_case("Value") => value = item,
                            _ => {}
                        }
                    }
                    Ev::Close => break,
                    Ev::Text(_) => {}
                    Ev::Eof => return Err(self.eof()),
                }
            }
        }
        Ok(key.map(|key| (key_text(&key), value.unwrap_or(PsValue::Null))))
    }

    fn primitive(&self, prim: Prim, tag: &Tag, text: Cow<'_, str>) -> Result<PsValue, String> {
        let trimmed = text.trim();
        let bad = |what: &str| {
            let element = match &tag.name {
                Some(name) => format!("<{} N={}>", prim.name(), quoted(name)),
                None => format!("<{}>", prim.name()),
            };
            self.at(&format!("{element} holds {}, not {what}", quoted(&text)))
        };
        let signed = |min: i64, max: i64| {
            trimmed
                .parse::<i64>()
                .ok()
                .filter(|n| (min..=max).contains(n))
                .map(PsValue::Int)
                .ok_or_else(|| bad("an integer in range"))
        };
        let unsigned = |max: u64| {
            trimmed
                .parse::<u64>()
                .ok()
                .filter(|n| *n <= max)
                .map(PsValue::UInt)
                .ok_or_else(|| bad("an integer in range"))
        };
        Ok(match prim {
            Prim::S
            | Prim::Ts
            | Prim::G
            | Prim::Uri
            | Prim::Version
            | Prim::Xd
            | Prim::Sbk
            | Prim::Ss => PsValue::String(decode_owned(text)),
            Prim::B => match trimmed {
                "1" => PsValue::Bool(true),
                "0" => PsValue::Bool(false),
                t if t.eq_ignore_ascii_case("true") => PsValue::Bool(true),
                t if t.eq_ignore_ascii_case("false") => PsValue::Bool(false),
                _ => return Err(bad("a boolean")),
            },
            Prim::Dt => parse_datetime(trimmed)
                .map(PsValue::DateTime)
                .ok_or_else(|| bad("a date and time"))?,
            Prim::Sb => signed(i8::MIN.into(), i8::MAX.into())?,
            Prim::I16 => signed(i16::MIN.into(), i16::MAX.into())?,
            Prim::I32 => signed(i32::MIN.into(), i32::MAX.into())?,
            Prim::I64 => signed(i64::MIN, i64::MAX)?,
            Prim::By => unsigned(u8::MAX.into())?,
            Prim::U16 => unsigned(u16::MAX.into())?,
            Prim::U32 => unsigned(u32::MAX.into())?,
            Prim::U64 => unsigned(u64::MAX)?,
            Prim::Db | Prim::D | Prim::Sg => {
                PsValue::Float(parse_float(trimmed).ok_or_else(|| bad("a number"))?)
            }
            Prim::Ba => PsValue::Bytes(decode_base64(&text).map_err(|_| bad("base64"))?),
            Prim::C => {
                let unit = trimmed
                    .parse::<u16>()
                    .map_err(|_| bad("a character code"))?;
                let c = char::from_u32(unit.into()).unwrap_or(char::REPLACEMENT_CHARACTER);
                PsValue::String(c.to_string())
            }
        })
    }

    /// The text content of a value element (text, CDATA and references joined).
    fn text(&mut self, empty: bool) -> Result<Cow<'a, str>, String> {
        let mut text = Cow::Borrowed("");
        if empty {
            return Ok(text);
        }
        loop {
            match self.next()? {
                Ev::Text(part) if text.is_empty() => text = part,
                Ev::Text(part) => text.to_mut().push_str(&part),
                Ev::Close => return Ok(text),
                Ev::Open(..) => return Err(self.at("an element inside a text value")),
                Ev::Eof => return Err(self.eof()),
            }
        }
    }

    /// Skips an element's content (its start tag already read).
    fn skip(&mut self, empty: bool) -> Result<(), String> {
        if empty {
            return Ok(());
        }
        let mut open = 0usize;
        loop {
            match self.next()? {
                Ev::Open(_, false) => open += 1,
                Ev::Close if open == 0 => return Ok(()),
                Ev::Close => open -= 1,
                Ev::Open(_, true) | Ev::Text(_) => {}
                Ev::Eof => return Err(self.eof()),
            }
        }
    }

    fn charge(&mut self, nodes: usize) -> Result<(), String> {
        self.nodes = self.nodes.saturating_add(nodes);
        if self.nodes > MAX_NODES {
            return Err(format!(
                "more than {MAX_NODES} values (counting each <Ref> as a copy); refusing the document"
            ));
        }
        Ok(())
    }

    fn line(&self, position: u64) -> usize {
        let end = usize::try_from(position).unwrap_or(usize::MAX);
        let bytes = self.text.as_bytes();
        let before = bytes.get(..end).unwrap_or(bytes);
        before.iter().filter(|b| **b == b'\n').count() + 1
    }

    /// A message with the line the reader is at.
    fn at(&self, message: &str) -> String {
        format!(
            "{} at line {}",
            one_line(message),
            self.line(self.reader.buffer_position())
        )
    }

    fn eof(&self) -> String {
        "unexpected end of document".into()
    }

    fn doctype(&self) -> String {
        self.at(
            "DOCTYPE declarations are refused (PowerShell never writes one; entities could expand)",
        )
    }

    fn xml_error(&self, error: &XmlError) -> String {
        match error {
            XmlError::Syntax(SyntaxError::UnclosedDoctype) => self.doctype(),
            XmlError::Syntax(
                SyntaxError::UnclosedTag
                | SyntaxError::UnclosedComment
                | SyntaxError::UnclosedCData
                | SyntaxError::UnclosedPI
                | SyntaxError::UnclosedXmlDecl
                | SyntaxError::UnclosedSingleQuotedAttributeValue
                | SyntaxError::UnclosedDoubleQuotedAttributeValue,
            )
            | XmlError::IllFormed(IllFormedError::MissingEndTag(_)) => self.eof(),
            XmlError::IllFormed(IllFormedError::UnclosedReference) => format!(
                "an & that starts no entity reference (write &amp;) at line {}",
                self.line(self.reader.error_position())
            ),
            other => {
                let message: String = one_line(&other.to_string()).chars().take(160).collect();
                format!(
                    "{message} at line {}",
                    self.line(self.reader.error_position())
                )
            }
        }
    }
}

/// An entity name for a message: at most 40 characters.
fn shortened(name: &str) -> String {
    const MAX: usize = 40;
    let mut short: String = name.chars().take(MAX).collect();
    if name.chars().nth(MAX).is_some() {
        short.push('…');
    }
    short
}

/// A dictionary key as a property name.
fn key_text(key: &PsValue) -> String {
    match key {
        PsValue::Null => String::new(),
        PsValue::Bool(flag) => if *flag { "True" } else { "False" }.to_string(),
        PsValue::Int(number) => number.to_string(),
        PsValue::UInt(number) => number.to_string(),
        PsValue::Float(number) => number.to_string(),
        PsValue::DateTime(when) => when.to_rfc3339(),
        other => other
            .string()
            .map(str::to_string)
            .or_else(|| other.integer().map(|n| n.to_string()))
            .unwrap_or_default(),
    }
}

/// xs:double / xs:float / xs:decimal text.
fn parse_float(text: &str) -> Option<f64> {
    match text {
        "INF" | "Infinity" => Some(f64::INFINITY),
        "-INF" | "-Infinity" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ if text
            .bytes()
            .any(|b| b.is_ascii_alphabetic() && b != b'e' && b != b'E') =>
        {
            None
        }
        _ => text.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn doc(body: &str) -> String {
        format!(
            r#"<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">{body}</Objs>"#
        )
    }

    fn one(body: &str) -> PsValue {
        let mut values = parse(&doc(body)).unwrap();
        assert_eq!(values.len(), 1, "{values:?}");
        values.remove(0)
    }

    fn prop(name: &str, element: &str) -> PsValue {
        let object = one(&format!("<Obj RefId=\"0\"><Props>{element}</Props></Obj>"));
        object
            .get(name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} in {object:?}"))
    }

    fn error(text: &str) -> String {
        parse(text).unwrap_err()
    }

    #[test]
    fn every_primitive() {
        assert_eq!(
            prop("s", r#"<S N="s">text</S>"#),
            PsValue::String("text".into())
        );
        assert_eq!(
            prop("s", r#"<S N="s"></S>"#),
            PsValue::String(String::new())
        );
        assert_eq!(prop("s", r#"<S N="s" />"#), PsValue::String(String::new()));
        assert_eq!(
            prop("s", r#"<S N="s"> a b </S>"#),
            PsValue::String(" a b ".into())
        );
        assert_eq!(prop("b", r#"<B N="b">true</B>"#), PsValue::Bool(true));
        assert_eq!(prop("b", r#"<B N="b">false</B>"#), PsValue::Bool(false));
        assert_eq!(prop("b", r#"<B N="b">1</B>"#), PsValue::Bool(true));
        assert_eq!(
            prop("d", r#"<DT N="d">2023-02-03T14:16:02+00:00</DT>"#).datetime_utc(),
            Ok(Some(Utc.with_ymd_and_hms(2023, 2, 3, 14, 16, 2).unwrap()))
        );
        assert_eq!(
            prop("d", r#"<DT N="d">2018-11-23T18:34:03-06:00</DT>"#).datetime_utc(),
            Ok(Some(Utc.with_ymd_and_hms(2018, 11, 24, 0, 34, 3).unwrap()))
        );
        assert_eq!(
            prop("t", r#"<TS N="t">PT9.0269026S</TS>"#),
            PsValue::String("PT9.0269026S".into())
        );
        assert_eq!(prop("n", r#"<By N="n">255</By>"#), PsValue::UInt(255));
        assert_eq!(prop("n", r#"<SB N="n">-128</SB>"#), PsValue::Int(-128));
        assert_eq!(
            prop("n", r#"<I16 N="n">-32768</I16>"#),
            PsValue::Int(-32768)
        );
        assert_eq!(prop("n", r#"<I32 N="n"> 6 </I32>"#), PsValue::Int(6));
        assert_eq!(
            prop("n", r#"<I64 N="n">-9223372036854775808</I64>"#),
            PsValue::Int(i64::MIN)
        );
        assert_eq!(prop("n", r#"<U16 N="n">65535</U16>"#), PsValue::UInt(65535));
        assert_eq!(
            prop("n", r#"<U32 N="n">4294967295</U32>"#),
            PsValue::UInt(4294967295)
        );
        assert_eq!(
            prop("n", r#"<U64 N="n">18446744073709551615</U64>"#),
            PsValue::UInt(u64::MAX)
        );
        assert_eq!(
            prop("n", r#"<Db N="n">1.5E+20</Db>"#),
            PsValue::Float(1.5e20)
        );
        assert_eq!(
            prop("n", r#"<Db N="n">-INF</Db>"#),
            PsValue::Float(f64::NEG_INFINITY)
        );
        assert!(matches!(prop("n", r#"<Db N="n">NaN</Db>"#), PsValue::Float(f) if f.is_nan()));
        assert_eq!(prop("n", r#"<D N="n">79.228</D>"#), PsValue::Float(79.228));
        assert_eq!(prop("n", r#"<Sg N="n">0.5</Sg>"#), PsValue::Float(0.5));
        assert_eq!(
            prop("x", r#"<BA N="x">AQID</BA>"#),
            PsValue::Bytes(vec![1, 2, 3])
        );
        assert_eq!(prop("x", r#"<BA N="x" />"#), PsValue::Bytes(Vec::new()));
        assert_eq!(
            prop("g", r#"<G N="g">9ed390c2-e6fd-4bd4-a7c0-65ca6bc791d7</G>"#),
            PsValue::String("9ed390c2-e6fd-4bd4-a7c0-65ca6bc791d7".into())
        );
        assert_eq!(
            prop("u", r#"<URI N="u">https://mail.contoso.lab/owa</URI>"#),
            PsValue::String("https://mail.contoso.lab/owa".into())
        );
        assert_eq!(
            prop("v", r#"<Version N="v">15.1.2507.6</Version>"#),
            PsValue::String("15.1.2507.6".into())
        );
        assert_eq!(prop("c", r#"<C N="c">97</C>"#), PsValue::String("a".into()));
        assert_eq!(
            prop("c", r#"<C N="c">55357</C>"#),
            PsValue::String("\u{FFFD}".into())
        );
        assert_eq!(
            prop("x", r#"<XD N="x">&lt;a&gt;b&lt;/a&gt;</XD>"#),
            PsValue::String("<a>b</a>".into())
        );
        assert_eq!(
            prop("x", r#"<SBK N="x">Get-Date</SBK>"#),
            PsValue::String("Get-Date".into())
        );
        assert_eq!(
            prop("x", r#"<SS N="x">0100</SS>"#),
            PsValue::String("0100".into())
        );
        assert_eq!(prop("x", r#"<Nil N="x" />"#), PsValue::Null);
        assert_eq!(prop("x", r#"<Nil N="x"></Nil>"#), PsValue::Null);
    }

    #[test]
    fn bad_primitives_are_named() {
        let err = error(&doc(
            r#"<Obj><Props><I32 N="Depth">abc</I32></Props></Obj>"#,
        ));
        assert_eq!(
            err,
            "CliXml: <I32 N=\"Depth\"> holds \"abc\", not an integer in range at line 1"
        );
        for bad in [
            r#"<By>256</By>"#,
            r#"<SB>128</SB>"#,
            r#"<I16>40000</I16>"#,
            r#"<I32>2147483648</I32>"#,
            r#"<U16>-1</U16>"#,
            r#"<B>yes</B>"#,
            r#"<DT>yesterday</DT>"#,
            r#"<Db>1.2.3</Db>"#,
            r#"<Db>infinity and beyond</Db>"#,
            r#"<BA>!!!</BA>"#,
            r#"<C>x</C>"#,
            r#"<I32 />"#,
        ] {
            let err = error(&doc(bad));
            assert!(err.starts_with("CliXml: <"), "{bad}: {err}");
            assert!(!err.contains('\n'), "{err}");
        }
    }

    #[test]
    fn objects_with_type_names_to_string_props_and_ms() {
        let value = one(r#"<Obj RefId="0">
                 <TN RefId="0"><T>Deserialized.Microsoft.Exchange.AuthConfig</T><T>Deserialized.System.Object</T></TN>
                 <ToString>Auth Configuration</ToString>
                 <Props><S N="Name">Auth</S></Props>
                 <MS><S N="PSComputerName">e2k16-1.contoso.lab</S><BA N="SerializationData">AAAA</BA></MS>
               </Obj>"#);
        let object = value.as_object().unwrap();
        assert_eq!(
            object.type_names.as_ref(),
            ["Microsoft.Exchange.AuthConfig", "System.Object"]
        );
        assert_eq!(object.to_string.as_deref(), Some("Auth Configuration"));
        let names: Vec<&str> = object.properties.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["Name", "PSComputerName"],
            "SerializationData is dropped"
        );
        assert_eq!(object.text("pscomputername"), Some("e2k16-1.contoso.lab"));
    }

    #[test]
    fn type_name_references_reach_across_the_document() {
        let values = parse(&doc(
            r#"<Obj RefId="0"><Props><Obj N="inner" RefId="1"><TN RefId="7"><T>A.B</T></TN></Obj></Props></Obj>
               <Obj RefId="2"><TNRef RefId="7" /></Obj>"#,
        ))
        .unwrap();
        assert_eq!(values[1].as_object().unwrap().type_names.as_ref(), ["A.B"]);
        let err = error(&doc(r#"<Obj RefId="0"><TNRef RefId="3" /></Obj>"#));
        assert_eq!(
            err,
            "CliXml: <TNRef RefId=\"3\"> refers to no earlier <TN> at line 1"
        );
        assert!(error(&doc(r#"<Obj><TNRef /></Obj>"#)).contains("without RefId"));
    }

    #[test]
    fn object_references_resolve_to_the_earlier_object() {
        let values = parse(&doc(
            r#"<Obj RefId="0"><Props><Obj N="Identity" RefId="1"><ToString>E2k16-1</ToString><Props><S N="Name">E2k16-1</S></Props></Obj><Ref N="Id" RefId="1" /></Props></Obj>
               <Obj RefId="2"><Props><Ref N="OrganizationId" RefId="1"></Ref></Props></Obj>"#,
        ))
        .unwrap();
        let identity = values[0].get("Identity").unwrap();
        assert_eq!(values[0].get("Id"), Some(identity));
        assert_eq!(values[1].get("OrganizationId"), Some(identity));
        assert_eq!(
            identity.get("Name").and_then(PsValue::string),
            Some("E2k16-1")
        );

        let err = error(&doc(
            r#"<Obj RefId="0"><Props><Ref N="x" RefId="5" /></Props></Obj>"#,
        ));
        assert_eq!(
            err,
            "CliXml: <Ref RefId=\"5\"> refers to no earlier object at line 1"
        );
        assert!(error(&doc(r#"<Ref />"#)).contains("<Ref> without RefId"));
    }

    #[test]
    fn a_reference_cycle_reads_as_null() {
        let value = one(r#"<Obj RefId="0"><Props><Ref N="Self" RefId="0" /></Props></Obj>"#);
        assert_eq!(value.get("Self"), Some(&PsValue::Null));
    }

    #[test]
    fn reference_explosion_is_refused() {
        // Each level refers to the previous one twice: 2^40 values once expanded.
        let mut body = String::from(r#"<Obj RefId="0"><Props><S N="x">x</S></Props></Obj>"#);
        for level in 1..=40 {
            body.push_str(&format!(
                r#"<Obj RefId="{level}"><Props><Ref N="a" RefId="{p}" /><Ref N="b" RefId="{p}" /></Props></Obj>"#,
                p = level - 1
            ));
        }
        let err = error(&doc(&body));
        assert!(err.contains("more than 10000000 values"), "{err}");
    }

    #[test]
    fn lists_of_every_kind() {
        for list in ["LST", "IE", "STK", "QUE"] {
            let value = one(&format!(
                r#"<Obj RefId="0"><TN RefId="0"><T>System.Object[]</T></TN><{list}><S>a</S><I32>2</I32><Nil /></{list}></Obj>"#
            ));
            assert_eq!(
                value.list().unwrap(),
                [PsValue::String("a".into()), PsValue::Int(2), PsValue::Null],
                "{list}"
            );
        }
        let empty = one(r#"<Obj RefId="0"><LST /></Obj>"#);
        assert_eq!(empty.list(), Some(&[][..]));
        assert_eq!(
            one("<LST><S>a</S></LST>").list().map(<[PsValue]>::len),
            Some(1)
        );
    }

    #[test]
    fn dictionaries_become_objects() {
        let value = one(
            r#"<Obj RefId="0"><TN RefId="0"><T>System.Collections.Hashtable</T></TN>
                 <DCT>
                   <En><S N="Key">Server</S><S N="Value">E2k16-1</S></En>
                   <En><I32 N="Key">7</I32><B N="Value">true</B></En>
                   <En><S N="Key">Missing</S></En>
                   <En><S N="Value">no key</S></En>
                 </DCT></Obj>"#,
        );
        let object = value.as_object().unwrap();
        assert_eq!(object.text("server"), Some("E2k16-1"));
        assert_eq!(object.get("7"), Some(&PsValue::Bool(true)));
        assert_eq!(object.get("Missing"), Some(&PsValue::Null));
        assert_eq!(object.properties.len(), 3);
        let bare = one(r#"<DCT><En><S N="Key">a</S><I32 N="Value">1</I32></En></DCT>"#);
        assert_eq!(bare.get("a"), Some(&PsValue::Int(1)));
    }

    #[test]
    fn enum_objects_keep_text_and_number() {
        let value = prop(
            "ServerRole",
            r#"<Obj N="ServerRole" RefId="12"><TN RefId="7"><T>Microsoft.Exchange.Data.Directory.SystemConfiguration.ServerRole</T><T>System.Enum</T></TN><ToString>Mailbox</ToString><I32>2</I32></Obj>"#,
        );
        assert_eq!(value.string(), Some("Mailbox"));
        assert_eq!(value.integer(), Some(2));
    }

    #[test]
    fn escapes_in_strings_and_names() {
        assert_eq!(decode_escapes("a_x000D__x000A_b"), "a\r\nb");
        assert_eq!(decode_escapes("_x005F_x0041_"), "_x0041_");
        assert_eq!(decode_escapes("snake_case_x"), "snake_case_x");
        assert_eq!(decode_escapes("_x00e9_"), "é");
        assert_eq!(decode_escapes("_xD83D__xDE00_"), "😀");
        assert_eq!(decode_escapes("_xD83D_x"), "\u{FFFD}x");
        assert_eq!(decode_escapes("ü_x0009_ü"), "ü\tü");
        assert_eq!(decode_escapes("_x12G4_"), "_x12G4_");
        assert_eq!(decode_escapes("_x"), "_x");
        assert!(matches!(decode_escapes("plain"), Cow::Borrowed("plain")));

        let value = one(
            r#"<Obj RefId="0"><ToString>[Subject]_x000D__x000A_  CN=x</ToString><Props><S N="My_x0020_Name">a_x005F_x000A_b</S></Props></Obj>"#,
        );
        let object = value.as_object().unwrap();
        assert_eq!(object.to_string.as_deref(), Some("[Subject]\r\n  CN=x"));
        assert_eq!(object.text("My Name"), Some("a_x000A_b"));
    }

    #[test]
    fn xml_entities_character_references_and_cdata() {
        assert_eq!(
            prop(
                "s",
                r#"<S N="s">a &amp; b &lt;c&gt; &#233;&#x41;<![CDATA[<raw>]]></S>"#
            ),
            PsValue::String("a & b <c> éA<raw>".into())
        );
        assert_eq!(
            prop("a&b", r#"<S N="a&amp;b">x</S>"#),
            PsValue::String("x".into())
        );
        assert!(error(&doc("<S>&bogus;</S>")).contains(
            "undefined entity &bogus; (only the five XML entities are allowed) at line 1"
        ));
        assert!(error(&doc("<S>&#xD800;</S>")).contains("invalid character reference"));
    }

    #[test]
    fn an_entity_name_with_a_line_break_stays_on_one_line() {
        // Found by the clixml fuzz target: the bytes `&\rD;//` as a whole document.
        let err = parse("&\rD;//").unwrap_err();
        assert!(!err.contains(['\r', '\n']), "{err:?}");
        assert!(err.contains("undefined entity & D;"), "{err:?}");
        let err = error(&doc("<S>&\nbogus;</S>"));
        assert!(!err.contains(['\r', '\n']), "{err:?}");
        // And in an attribute value (found by fuzzing too): the entity quoted by quick-xml.
        let err = error(&doc("<S N=\"R&a\nb\u{1};\">x</S>"));
        assert!(
            err.starts_with("CliXml: malformed attribute value"),
            "{err:?}"
        );
        assert!(!err.contains(['\r', '\n', '\u{1}']), "{err:?}");
    }

    #[test]
    fn doctype_and_entities_are_refused() {
        let billion_laughs = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>
<Objs><S>&lol2;</S></Objs>"#;
        let err = error(billion_laughs);
        assert!(
            err.starts_with("CliXml: DOCTYPE declarations are refused"),
            "{err}"
        );
        let external = r#"<!DOCTYPE Objs SYSTEM "file:///etc/passwd"><Objs/>"#;
        assert!(error(external).contains("DOCTYPE declarations are refused"));
        assert!(error("<!DOCTYPE Objs [").contains("DOCTYPE declarations are refused"));
        assert!(error(&doc("<!ENTITY x \"y\">")).starts_with("CliXml: "));
    }

    #[test]
    fn nesting_is_limited() {
        let deep = |levels: usize| {
            let mut text = String::from("<Objs>");
            for _ in 0..levels {
                text.push_str("<LST>");
            }
            for _ in 0..levels {
                text.push_str("</LST>");
            }
            text.push_str("</Objs>");
            text
        };
        assert!(parse(&deep(MAX_DEPTH - 1)).is_ok());
        let err = error(&deep(MAX_DEPTH));
        assert_eq!(
            err,
            "CliXml: elements nested deeper than 64 levels; refusing the document at line 1"
        );
        // Far deeper than any stack allows for recursion: still a clean error.
        assert!(error(&deep(200_000)).contains("nested deeper"));
        let empty_at_limit = format!(
            "<Objs>{}<Nil/>{}</Objs>",
            "<LST>".repeat(MAX_DEPTH - 1),
            "</LST>".repeat(MAX_DEPTH - 1)
        );
        assert!(error(&empty_at_limit).contains("nested deeper"));
    }

    #[test]
    fn truncated_documents() {
        let full = doc(
            r#"<Obj RefId="0"><Props><S N="CurrentCertificateThumbprint">E1BD</S><I32 N="n">5</I32></Props></Obj>"#,
        );
        for cut in 1..full.len() {
            let Some(head) = full.get(..cut) else {
                continue;
            };
            match parse(head) {
                Ok(values) => panic!("{head:?} parsed as {values:?}"),
                Err(err) => {
                    assert!(err.starts_with("CliXml: "), "{err}");
                    assert!(!err.contains('\n'), "{err}");
                }
            }
        }
        assert_eq!(
            error(&full[..full.len() - 7]),
            "CliXml: unexpected end of document"
        );
        assert_eq!(
            error(r#"<Objs><S N="x"#),
            "CliXml: unexpected end of document"
        );
    }

    #[test]
    fn malformed_documents() {
        assert_eq!(error(""), "CliXml: no <Objs> root element");
        assert_eq!(
            error("<?xml version=\"1.0\"?>"),
            "CliXml: no <Objs> root element"
        );
        assert!(error("<Root/>").contains("the root element is not <Objs>"));
        assert!(error("junk<Objs/>").contains("text before the <Objs> root element"));
        assert!(error("<Objs/><Objs/>").contains("a second root element"));
        assert!(error("<Objs><S>a</T></Objs>").starts_with("CliXml: "));
        assert!(
            error("<Objs><S>a<B>true</B></S></Objs>").contains("an element inside a text value")
        );
        assert!(
            error("<Objs><Obj><Props><S N=\"a\" N=\"b\">x</S></Props></Obj></Objs>")
                .starts_with("CliXml: ")
        );
        assert!(error("<Objs>\n\n<S>&</S></Objs>").contains("line 3"));
    }

    #[test]
    fn comments_declarations_and_unknown_elements_are_ignored() {
        let values = parse(
            "<?xml version=\"1.0\" encoding=\"utf-16\"?><!-- exported --><Objs><?pi x?><PR><AV>x</AV></PR><S>a</S><Obj><Future N=\"x\"><S>y</S></Future><Props><Unknown N=\"u\"/></Props></Obj></Objs>",
        )
        .unwrap();
        assert_eq!(values.len(), 2);
        assert_eq!(values[0], PsValue::String("a".into()));
        assert!(values[1].as_object().unwrap().properties.is_empty());
        assert_eq!(parse("<Objs/>").unwrap(), Vec::<PsValue>::new());
    }

    #[test]
    fn crlf_inside_text_is_normalised_as_xml_requires() {
        assert_eq!(
            prop("s", "<S N=\"s\">a\r\nb</S>"),
            PsValue::String("a\nb".into())
        );
    }

    #[test]
    fn never_panics_on_mangled_input() {
        let base = doc(
            r#"<Obj RefId="0"><TN RefId="0"><T>X</T></TN><ToString>a_x000D_</ToString><Props><Ref N="r" RefId="0"/><DCT><En><S N="Key">k</S></En></DCT><DT N="d">2023-01-01T00:00:00Z</DT></Props></Obj>"#,
        );
        let bytes = base.as_bytes();
        for at in 0..bytes.len() {
            for replacement in [b'<', b'>', b'/', b'"', b'&', b'_', b'x', b' '] {
                let mut mangled = bytes.to_vec();
                mangled[at] = replacement;
                if let Ok(text) = std::str::from_utf8(&mangled) {
                    let _ = parse(text);
                }
            }
        }
    }
}

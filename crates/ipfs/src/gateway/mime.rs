//! Content types: from a file name's extension, or sniffed from a file's first bytes.

/// MIME type from a file name's extension.
pub fn mime_from_name(name: &str) -> Option<&'static str> {
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "html" | "htm" => "text/html",
        "txt" | "text" => "text/plain; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "pdf" => "application/pdf",
        "wasm" => "application/wasm",
        "mp4" => "video/mp4",
        "mp3" => "audio/mpeg",
        "zip" => "application/zip",
        "md" => "text/markdown; charset=utf-8",
        "xml" => "application/xml",
        _ => return None,
    })
}

/// Content sniffing for nameless files (a subset of the WHATWG rules Go's `DetectContentType`
/// follows).
pub fn sniff(head: &[u8]) -> &'static str {
    let trimmed = head
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .map_or(&head[..0], |i| &head[i..]);
    let lower: Vec<u8> = trimmed
        .iter()
        .take(16)
        .map(u8::to_ascii_lowercase)
        .collect();
    if lower.starts_with(b"<!doctype html") || lower.starts_with(b"<html") {
        "text/html; charset=utf-8"
    } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else if head.starts_with(b"\xff\xd8\xff") {
        "image/jpeg"
    } else if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        "image/gif"
    } else if head.starts_with(b"%PDF-") {
        "application/pdf"
    } else if lower.starts_with(b"<svg") || lower.starts_with(b"<?xml") {
        "text/xml; charset=utf-8"
    } else if (trimmed.starts_with(b"{") || trimmed.starts_with(b"["))
        && serde_json::from_slice::<serde_json::Value>(head).is_ok()
    {
        "application/json"
    } else if std::str::from_utf8(head).is_ok()
        || head.len() >= 509 && std::str::from_utf8(&head[..head.len() - 3]).is_ok()
    {
        "text/plain; charset=utf-8"
    } else {
        "application/octet-stream"
    }
}

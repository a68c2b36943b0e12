//! HTTP/1.x on TCP stream bytes. Uses nothing from `tcp`; `tcp` takes its hooks as plain
//! functions so that it knows no HTTP.

/// Request methods recognised at the start of a client's first payload. `PRI` is the HTTP/2
/// connection preface (`PRI * HTTP/2.0`).
const METHODS: [&[u8]; 10] = [
    b"GET ",
    b"POST ",
    b"HEAD ",
    b"PUT ",
    b"DELETE ",
    b"OPTIONS ",
    b"PATCH ",
    b"CONNECT ",
    b"TRACE ",
    b"PRI ",
];

/// Whether `payload` starts like an HTTP request line (`METHOD SP target`): the sender is then
/// the client. Used to tell roles apart when a capture starts after the handshake.
pub fn looks_like_request(payload: &[u8]) -> bool {
    METHODS.iter().any(|m| {
        payload.len() > m.len()
            && payload.starts_with(m)
            && matches!(payload[m.len()], b'/' | b'*' | b'h' | b'H' | b'a'..=b'z' | b'0'..=b'9')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines_are_recognised() {
        assert!(looks_like_request(b"GET / HTTP/1.1\r\n"));
        assert!(looks_like_request(b"HEAD / HTTP/1.0\r\n\r\n"));
        assert!(looks_like_request(b"OPTIONS * HTTP/1.1\r\n"));
        assert!(looks_like_request(b"CONNECT example.com:443 HTTP/1.1\r\n"));
        assert!(looks_like_request(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
    }

    #[test]
    fn responses_and_noise_are_not_requests() {
        assert!(!looks_like_request(b"HTTP/1.1 200 OK\r\n"));
        assert!(!looks_like_request(b"GET"));
        assert!(!looks_like_request(b"GET  /"));
        assert!(!looks_like_request(b"\x16\x03\x01\x02\x00"));
    }
}

//! TCP connection tracking (written next).

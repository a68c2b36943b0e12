//! Drives capture..analysis (written next).

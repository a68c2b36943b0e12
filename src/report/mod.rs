//! Renderers (written next).

//! Debian packages as image content (in progress).

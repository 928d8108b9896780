//! LinuxKit YAML configuration (in progress).

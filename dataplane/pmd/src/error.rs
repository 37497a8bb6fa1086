//! Errors of the pool, the buffers and the ports.

/// A pool could not be created.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PoolError {
    /// The frame size is not one a device accepts.
    #[error("frame size {0} is not supported: use 2048 or 4096")]
    FrameSize(u32),
    /// The frame count is zero or too large.
    #[error("frame count {0} is out of range: use 1 to 16777216")]
    FrameCount(u32),
    /// The headroom leaves no room for a minimum frame.
    #[error("headroom {headroom} leaves less than 64 bytes of a {frame_size}-byte frame")]
    Headroom { headroom: u32, frame_size: u32 },
    /// The reserved area is larger than the headroom.
    #[error("reserved area of {reserved} bytes is larger than the headroom of {headroom}")]
    Reserved { reserved: u32, headroom: u32 },
    /// The memory could not be allocated.
    #[error("could not allocate {bytes} bytes for the pool's region")]
    Alloc { bytes: usize },
}

/// A buffer operation did not fit the frame.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone, Copy)]
pub enum BufError {
    /// Not enough headroom to prepend.
    #[error("prepend needs {need} bytes of headroom, the buffer has {have}")]
    Headroom { need: usize, have: usize },
    /// Not enough tailroom to append.
    #[error("append needs {need} bytes of tailroom, the buffer has {have}")]
    Tailroom { need: usize, have: usize },
    /// The data is shorter than the bytes to remove.
    #[error("cannot remove {need} bytes from {have} bytes of data")]
    TooShort { need: usize, have: usize },
    /// The frame is shared with other buffers ([`PacketBuf::share`](crate::PacketBuf::share))
    /// and its pool had no frame to copy it into before writing.
    #[error("the frame is shared and its pool has no free frame to copy it into")]
    SharedNoFrame,
    /// A data window that does not fit in the frame.
    #[error("window {offset}+{len} does not fit a {frame_size}-byte frame")]
    Window {
        offset: usize,
        len: usize,
        frame_size: usize,
    },
}

/// A port or queue could not be opened or configured.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// The queue id is beyond the port's queue count.
    #[error("queue {queue} does not exist: the port has {queues} queue(s)")]
    NoSuchQueue { queue: u16, queues: u16 },
    /// The queue was opened before and is still in use.
    #[error("queue {0} is already open")]
    QueueInUse(u16),
    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The pool could not be created.
    #[error(transparent)]
    Pool(#[from] PoolError),
    /// A system call or device operation failed.
    #[error("`{call}` failed")]
    Io {
        call: &'static str,
        #[source]
        source: std::io::Error,
    },
}

use super::{CaptureError, CaptureInfo, FrameSink};

/// Streams one capture (file, gzip file, or standard input) through a fixed-size buffer.
pub struct CaptureReader {
    info: CaptureInfo,
}

impl CaptureReader {
    /// Opens `path`; `-` means standard input.
    pub fn open(path: &str) -> Result<Self, CaptureError> {
        Err(CaptureError::NotACapture {
            path: path.to_string(),
            detail: "reader not written yet".into(),
        })
    }

    /// Reads every frame into `sink`. A record cut off by the end of input is not an error:
    /// reading stops and [`CaptureInfo::truncated_at`] says where.
    pub fn run(&mut self, _sink: &mut dyn FrameSink) -> Result<(), CaptureError> {
        Ok(())
    }

    pub fn info(&self) -> &CaptureInfo {
        &self.info
    }
}

impl CaptureReader {
    /// The timestamp of the first packet, without consuming it: a later [`run`](Self::run)
    /// still starts with that packet. Used to put several inputs in time order.
    pub fn first_timestamp(&mut self) -> Result<Option<crate::time::Timestamp>, CaptureError> {
        Ok(None)
    }
}

//! Choosing a device by name from the ones present (pure logic, tested without a device).

use crate::error::RdmaError;

/// Index of the device to open: the one named `wanted`, or the first one.
pub(crate) fn select_device(names: &[String], wanted: Option<&str>) -> Result<usize, RdmaError> {
    if names.is_empty() {
        return Err(RdmaError::NoDevice);
    }
    match wanted {
        None => Ok(0),
        Some(name) => names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| RdmaError::NoSuchDevice {
                name: name.to_string(),
                available: names.join(", "),
            }),
    }
}

/// The names of the RDMA devices present (`ibv_devices`).
pub fn devices() -> Result<Vec<String>, RdmaError> {
    crate::sys::device_names()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_is_picked_by_name_or_first_and_absence_is_explained() {
        let names = vec!["rxe0".to_string(), "mlx5_0".to_string()];
        assert_eq!(select_device(&names, None).unwrap(), 0);
        assert_eq!(select_device(&names, Some("mlx5_0")).unwrap(), 1);
        let err = select_device(&names, Some("rxe9")).unwrap_err().to_string();
        assert_eq!(
            err,
            "RDMA device `rxe9` not found; devices present: rxe0, mlx5_0 (see `ibv_devices`)"
        );
        let err = select_device(&[], Some("rxe0")).unwrap_err().to_string();
        assert!(err.starts_with("no RDMA device found"), "{err}");
        assert!(err.contains("rdma link add"), "{err}");
    }
}

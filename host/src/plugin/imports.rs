//! The import check: a plugin's imports are compared with its grant before it is compiled.

use super::{PACKAGE, PACKAGE_VERSION, PluginError, PluginErrorKind, PluginSpec};
use crate::types::Permission;

/// The versioned name of our interface `name`.
pub fn interface_name(name: &str) -> String {
    format!("{PACKAGE}/{name}@{PACKAGE_VERSION}")
}

/// Why a component's imports could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ImportsError {
    /// The bytes are a core module: plugins are components.
    #[error("a core module, not a component")]
    CoreModule,
    /// The bytes do not parse as a component.
    #[error(transparent)]
    Malformed(#[from] wasmparser::BinaryReaderError),
}

/// The top-level imports of a component, read without compiling it.
pub fn component_imports(bytes: &[u8]) -> Result<Vec<String>, ImportsError> {
    let mut imports = Vec::new();
    let mut depth = 0usize;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        match payload? {
            wasmparser::Payload::Version { encoding, .. } => {
                if depth == 0 && encoding != wasmparser::Encoding::Component {
                    return Err(ImportsError::CoreModule);
                }
                depth += 1;
            }
            wasmparser::Payload::End(_) => depth = depth.saturating_sub(1),
            wasmparser::Payload::ComponentImportSection(section) if depth == 1 => {
                for import in section {
                    imports.push(import?.name.name.to_string());
                }
            }
            _ => {}
        }
    }
    Ok(imports)
}

/// Checks every import of `spec`'s component against `grant`, before anything is compiled.
pub fn check_imports(spec: &PluginSpec, grant: &[Permission]) -> Result<(), PluginError> {
    let imports = component_imports(&spec.component).map_err(|e| {
        PluginErrorKind::Invalid {
            message: e.to_string(),
        }
        .of(&spec.name, &spec.agent)
    })?;
    for interface in imports {
        let unknown = |reason: String| {
            PluginErrorKind::UnknownImport {
                interface: interface.clone(),
                reason,
            }
            .of(&spec.name, &spec.agent)
        };
        if let Some(rest) = interface.strip_prefix("wasi:") {
            if rest.starts_with("http/") && spec.allowed_outbound_hosts.is_empty() {
                return Err(unknown(
                    "outbound HTTP is not granted to this plugin (no allowed outbound hosts)"
                        .into(),
                ));
            }
            continue;
        }
        let Some(ours) = interface.strip_prefix(&format!("{PACKAGE}/")) else {
            return Err(unknown(
                "only WASI and the arena:core handle interfaces are provided".into(),
            ));
        };
        let (name, version) = ours.split_once('@').unwrap_or((ours, ""));
        if version != PACKAGE_VERSION {
            return Err(unknown(format!(
                "this host provides {PACKAGE}@{PACKAGE_VERSION}, not version {version:?}"
            )));
        }
        if name == "types" {
            continue;
        }
        let Ok(permission) = name.parse::<Permission>() else {
            return Err(unknown(format!("`{name}` is not a handle interface")));
        };
        if !grant.contains(&permission) {
            return Err(PluginErrorKind::NotGranted {
                interface,
                permission,
            }
            .of(&spec.name, &spec.agent));
        }
    }
    Ok(())
}

//! The `org.mobyproject.config` image label (yaml.md §5): parse it as YAML
//! (JSON is YAML), require a mapping, validate it with the image-entry schema
//! and refuse `name`/`image`. Errors carry upstream's texts.

use crate::SpecError;
use crate::decode;
use crate::model::Image;
use crate::schema;
use crate::yaml::{self, Node, Value};

fn is_set(n: Option<&Node>) -> bool {
    match n.map(|n| &n.value) {
        None | Some(Value::Null) => false,
        Some(Value::Str(s)) => !s.is_empty(),
        Some(_) => true,
    }
}

/// Parse a label text; an empty text is an empty label.
pub fn parse_label(text: &str) -> Result<Image, SpecError> {
    if text.is_empty() {
        return Ok(Image::default());
    }
    let root = match yaml::parse(text) {
        Ok(r) => r,
        Err(errs) => {
            if errs.iter().any(|e| e.message == "EOF") {
                return Err(SpecError::LabelNotObject(text.to_string()));
            }
            return Err(SpecError::InvalidLabel(
                errs.iter()
                    .map(|e| format!("line {} column {}: {}", e.line, e.column, e.message))
                    .collect(),
            ));
        }
    };
    if !matches!(root.value, Value::Map(_)) {
        return Err(SpecError::LabelNotObject(text.to_string()));
    }
    let issues = schema::validate(&root, &schema::LABEL, "");
    if !issues.is_empty() {
        return Err(SpecError::InvalidLabel(
            issues
                .iter()
                .map(|i| {
                    let mut s = format!("line {} column {}: {}", i.line, i.column, i.message);
                    if let Some(h) = &i.hint {
                        s.push_str(&format!(" ({h})"));
                    }
                    s
                })
                .collect(),
        ));
    }
    if is_set(root.get("name")) {
        return Err(SpecError::LabelSetsName);
    }
    if is_set(root.get("image")) {
        return Err(SpecError::LabelSetsImage);
    }
    let mut img = decode::image(&root, "org.mobyproject.config label");
    img.origin = Default::default();
    Ok(img)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_label() {
        let l = parse_label(r#"{"capabilities":["CAP_SYS_ADMIN"],"net":"host","devices":[{"path":"/dev/console","type":"c","major":5,"minor":1,"mode":"0666"}]}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(l.capabilities, Some(vec!["CAP_SYS_ADMIN".to_string()]));
        assert_eq!(l.net.as_deref(), Some("host"));
        assert_eq!(l.devices.map(|d| d.len()), Some(1));
    }

    #[test]
    fn label_errors() {
        assert_eq!(
            parse_label("[1]").unwrap_err().to_string(),
            "JSON is an array not an object: [1]"
        );
        assert_eq!(
            parse_label(r#"{"name":"x"}"#).unwrap_err(),
            SpecError::LabelSetsName
        );
        assert_eq!(
            parse_label(r#"{"image":"x"}"#).unwrap_err(),
            SpecError::LabelSetsImage
        );
        assert!(matches!(
            parse_label(r#"{"colour":"x"}"#),
            Err(SpecError::InvalidLabel(_))
        ));
    }
}

//! Reading the AWS Query protocol's XML answers (Auto Scaling, STS, EC2): elements are found by
//! local name, so the namespace of each API version does not matter. Errors are
//! `<ErrorResponse><Error><Code>…</Code><Message>…</Message></Error>` (EC2:
//! `<Response><Errors><Error>`), documented at
//! docs.aws.amazon.com/autoscaling/ec2/APIReference/CommonErrors.html.

use roxmltree::{Document, Node};

/// Why an answer could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unreadable XML answer: {0}")]
pub struct XmlError(pub String);

pub fn parse(text: &str) -> Result<Document<'_>, XmlError> {
    Document::parse(text).map_err(|e| XmlError(e.to_string()))
}

/// The first element named `name` at or under `node`.
pub fn find<'a, 'i>(node: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    node.descendants()
        .find(|n| n.is_element() && n.tag_name().name() == name)
}

/// The direct child element named `name`.
pub fn child<'a, 'i>(node: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    node.children()
        .find(|n| n.is_element() && n.tag_name().name() == name)
}

/// The text of the direct child `name`, trimmed.
pub fn text<'a>(node: Node<'a, '_>, name: &str) -> Option<&'a str> {
    child(node, name).and_then(|n| n.text()).map(str::trim)
}

/// The `<member>` children of the list element `name` under `node` (Query lists are
/// `<Name><member>…</member></Name>`).
pub fn members<'a, 'i>(node: Node<'a, 'i>, name: &str) -> Vec<Node<'a, 'i>> {
    child(node, name)
        .map(|list| {
            list.children()
                .filter(|n| n.is_element() && n.tag_name().name() == "member")
                .collect()
        })
        .unwrap_or_default()
}

/// The `<item>` children of the list element `name` under `node` (EC2's lists are
/// `<nameSet><item>…</item></nameSet>`).
pub fn items<'a, 'i>(node: Node<'a, 'i>, name: &str) -> Vec<Node<'a, 'i>> {
    child(node, name)
        .map(|list| {
            list.children()
                .filter(|n| n.is_element() && n.tag_name().name() == "item")
                .collect()
        })
        .unwrap_or_default()
}

/// A number in the child `name`, or an error naming it.
pub fn number(node: Node<'_, '_>, name: &str) -> Result<u32, XmlError> {
    let t = text(node, name)
        .ok_or_else(|| XmlError(format!("<{}> has no <{name}>", node.tag_name().name())))?;
    t.parse()
        .map_err(|_| XmlError(format!("<{name}> is `{t}`, not a count")))
}

/// The error code and message of a Query error answer, if `text` is one.
pub fn error(text: &str) -> Option<(String, String)> {
    let doc = Document::parse(text).ok()?;
    let e = find(doc.root(), "Error")?;
    let code = text_of(e, "Code")?;
    Some((code, text_of(e, "Message").unwrap_or_default()))
}

fn text_of(node: Node<'_, '_>, name: &str) -> Option<String> {
    text(node, name).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_and_ec2_errors_are_read() {
        let asg = r#"<ErrorResponse xmlns="https://autoscaling.amazonaws.com/doc/2011-01-01/">
  <Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>
  <RequestId>1</RequestId></ErrorResponse>"#;
        assert_eq!(
            error(asg),
            Some(("Throttling".into(), "Rate exceeded".into()))
        );
        let ec2 = "<?xml version=\"1.0\"?><Response><Errors><Error><Code>UnauthorizedOperation</Code>\
            <Message>You are not authorized</Message></Error></Errors><RequestID>r</RequestID></Response>";
        assert_eq!(
            error(ec2).map(|e| e.0),
            Some("UnauthorizedOperation".into())
        );
        assert_eq!(error("not xml"), None);
        assert_eq!(error("<Ok/>"), None);
    }

    #[test]
    fn lists_and_numbers() {
        let doc = parse("<R xmlns=\"x\"><G><Min>1</Min><Bad>x</Bad><L><member>a</member><member>b</member></L></G></R>")
            .expect("xml");
        let g = find(doc.root(), "G").expect("G");
        assert_eq!(number(g, "Min"), Ok(1));
        assert!(number(g, "Bad").is_err());
        assert!(
            number(g, "Max")
                .expect_err("none")
                .0
                .contains("<G> has no <Max>")
        );
        let m: Vec<_> = members(g, "L")
            .iter()
            .filter_map(roxmltree::Node::text)
            .collect();
        assert_eq!(m, ["a", "b"]);
    }
}

//! `GET /v1/models` in OpenAI's list shape.

use serde::Serialize;

#[derive(Serialize)]
struct ModelObject<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    owned_by: &'a str,
}

#[derive(Serialize)]
struct ModelList<'a> {
    object: &'static str,
    data: Vec<ModelObject<'a>>,
}

/// `{"object":"list","data":[{"id","object":"model","created","owned_by"}]}` for the given names.
pub fn model_list_body<'a>(names: impl IntoIterator<Item = &'a str>, created: u64) -> Vec<u8> {
    let list = ModelList {
        object: "list",
        data: names
            .into_iter()
            .map(|id| ModelObject {
                id,
                object: "model",
                created,
                owned_by: "sluice",
            })
            .collect(),
    };
    serde_json::to_vec(&list).unwrap_or_default()
}

/// One model object, for `GET /v1/models/{id}`.
pub fn model_object_body(name: &str, created: u64) -> Vec<u8> {
    serde_json::to_vec(&ModelObject {
        id: name,
        object: "model",
        created,
        owned_by: "sluice",
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_shape() {
        let body = model_list_body(["fast", "smart"], 1_700_000_000);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["object"], "list");
        assert_eq!(v["data"][1]["id"], "smart");
        assert_eq!(v["data"][0]["object"], "model");
        assert_eq!(v["data"][0]["created"], 1_700_000_000u64);
    }
}

//! The OpenAPI document of the management API, generated from the handlers' `#[utoipa::path]`
//! annotations and the types' `ToSchema` derives, served at `/api/v1/openapi.json`.

use axum::body::Bytes;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as Document, Server};
use utoipa::{Modify, OpenApi};

use super::{BASE, ErrorBody, ErrorItem, Success};

/// The parts of the document that no handler describes.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Portcullis management API",
        description = "Kinde-compatible management API of the Portcullis identity server. \
            Every operation takes a bearer token from the client_credentials grant with \
            audience `{issuer}/api` and the operation's `verb:resource` scope; a missing, \
            invalid or under-scoped token is answered 403.",
    ),
    components(schemas(ErrorBody, ErrorItem, Success)),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
)]
pub(super) struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Puts every path under [`BASE`] (the handlers name them relative to it) and serializes the
/// document once.
pub(super) fn finish(mut doc: Document) -> Bytes {
    let paths = std::mem::take(&mut doc.paths.paths);
    doc.paths.paths = paths
        .into_iter()
        .map(|(path, mut item)| {
            for operation in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                operation
                    .responses
                    .responses
                    .insert("503".to_owned(), unavailable_response());
            }
            (format!("{BASE}{path}"), item)
        })
        .collect();
    doc.servers = Some(vec![Server::new("/")]);
    match serde_json::to_vec(&doc) {
        Ok(json) => Bytes::from(json),
        Err(e) => {
            tracing::error!(error = %e, "cannot serialize the OpenAPI document");
            Bytes::from_static(b"{}")
        }
    }
}

/// The answer of every operation while the database is unavailable (see
/// [`crate::error::StoreError::Unavailable`]).
fn unavailable_response() -> utoipa::openapi::RefOr<utoipa::openapi::Response> {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    ResponseBuilder::new()
        .description(
            "The database is unavailable for now (`SERVICE_UNAVAILABLE`): nothing was changed; \
             retry after the `Retry-After` seconds",
        )
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
        .into()
}

#[cfg(test)]
mod tests {
    #[test]
    fn document_is_valid_json_with_prefixed_paths() {
        let router = super::super::router();
        drop(router);
        let doc: serde_json::Value = serde_json::from_slice(&super::finish(
            utoipa_axum::router::OpenApiRouter::<crate::AppState>::with_openapi(
                <super::ApiDoc as utoipa::OpenApi>::openapi(),
            )
            .merge(super::super::users::routes())
            .split_for_parts()
            .1,
        ))
        .unwrap();
        let paths = doc["paths"].as_object().unwrap();
        assert!(paths.keys().all(|p| p.starts_with("/api/v1/")), "{paths:?}");
        assert!(paths.contains_key("/api/v1/users"));
        // Every operation documents the storage-outage answer.
        for (path, item) in paths {
            for (method, operation) in item.as_object().unwrap() {
                assert!(
                    operation["responses"].get("503").is_some(),
                    "{method} {path} does not document 503"
                );
            }
        }
    }

    /// utoipa names a schema after its type, and merging documents keeps one schema per
    /// name: two groups with different types of the same name would silently describe one
    /// of them wrongly. Each name must mean one schema.
    #[test]
    fn schema_names_are_unique_across_groups() {
        use super::super::*;
        let groups = [
            ("users", users::routes()),
            ("organizations", organizations::routes()),
            ("roles", roles::routes()),
            ("permissions", permissions::routes()),
            ("flags", flags::routes()),
            ("applications", applications::routes()),
            ("apis", apis::routes()),
        ];
        let mut seen: std::collections::HashMap<String, (&str, serde_json::Value)> =
            Default::default();
        for (group, routes) in groups {
            let (_, doc) = routes.split_for_parts();
            let Some(components) = doc.components else {
                continue;
            };
            for (name, schema) in components.schemas {
                let schema = serde_json::to_value(&schema).unwrap();
                if let Some((other, earlier)) = seen.get(&name) {
                    assert_eq!(
                        earlier, &schema,
                        "schema {name} of {group} differs from the one of {other}: rename one \
                         (#[schema(as = …)])"
                    );
                } else {
                    seen.insert(name, (group, schema));
                }
            }
        }
    }

    /// Every operation states a scope of `SCOPES` (the `Caller` extractor refuses every call
    /// of one that does not), and every scope of `SCOPES` guards some operation.
    #[test]
    fn every_operation_states_a_known_scope() {
        let (_, doc) = utoipa_axum::router::OpenApiRouter::<crate::AppState>::with_openapi(
            <super::ApiDoc as utoipa::OpenApi>::openapi(),
        )
        .merge(super::super::users::routes())
        .merge(super::super::organizations::routes())
        .merge(super::super::roles::routes())
        .merge(super::super::permissions::routes())
        .merge(super::super::flags::routes())
        .merge(super::super::applications::routes())
        .merge(super::super::apis::routes())
        .split_for_parts();
        let scopes = super::super::OperationScopes::of(&doc);
        let json = serde_json::to_value(&doc).unwrap();
        let mut operations = 0;
        for (path, item) in json["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                let method =
                    axum::http::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                let full = format!("{}{path}", super::BASE);
                assert!(
                    scopes.get(&method, &full).is_some(),
                    "{method} {path} states no scope of SCOPES"
                );
                operations += 1;
            }
        }
        assert_eq!(operations, 71);
        for scope in super::super::SCOPES {
            assert!(
                scopes.0.values().flatten().any(|(_, s)| s == scope),
                "{scope} guards no operation"
            );
        }
    }
}

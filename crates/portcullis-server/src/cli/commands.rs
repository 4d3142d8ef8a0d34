//! The administration subcommands: what each one asks the management API, and what it prints.

use std::collections::HashSet;

use clap::{Args, Subcommand, ValueEnum};
use portcullis::FlagValue;
use portcullis::management::{
    MAX_PAGE_SIZE, ManagementClient, ManagementError, NewFeatureFlag, NewOrganization, NewRole,
    NewUser, OverrideLevel, Page, PageRequest, UsersQuery,
};
use serde_json::json;

use super::CliError;
use super::output::{Table, cell, fields, json, yes_no};

/// The page size of `--all` when none is given: few round trips, modest answers.
const ALL_PAGE_SIZE: u32 = 100;

/// One administration command, with the resource it is about.
pub(crate) enum Resource {
    Users(UsersCommand),
    Orgs(OrgsCommand),
    Roles(RolesCommand),
    Flags(FlagsCommand),
}

/// Paging of a list command.
#[derive(Args)]
pub(crate) struct ListArgs {
    /// Items per page (1 to 500; the server's default, 10, when not given).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_PAGE_SIZE)))]
    page_size: Option<u32>,
    /// List every item, page after page (pages of --page-size, default 100).
    #[arg(long, conflicts_with = "next_token")]
    all: bool,
    /// Continue after the page that gave this token (printed when there are more items).
    #[arg(long, value_name = "TOKEN")]
    next_token: Option<String>,
}

impl ListArgs {
    fn first_page(&self) -> PageRequest {
        let mut page = PageRequest::new();
        match (self.page_size, self.all) {
            (Some(size), _) => page = page.page_size(size),
            (None, true) => page = page.page_size(ALL_PAGE_SIZE),
            (None, false) => {}
        }
        if let Some(token) = &self.next_token {
            page = page.next_token(token.clone());
        }
        page
    }
}

/// `portcullis users …`
#[derive(Subcommand)]
pub(crate) enum UsersCommand {
    /// List users (one page, or every page with --all).
    List {
        #[command(flatten)]
        page: ListArgs,
        /// Only the user with this email address.
        #[arg(long)]
        email: Option<String>,
    },
    /// Show one user.
    Get {
        /// The user's id (kp_…).
        id: String,
    },
    /// Create a user who signs in with an email address.
    Create {
        /// The email address.
        #[arg(long)]
        email: String,
        /// Given name.
        #[arg(long)]
        given_name: Option<String>,
        /// Family name.
        #[arg(long)]
        family_name: Option<String>,
        /// Add the user to the organization with this code (org_…).
        #[arg(long, value_name = "CODE")]
        org: Option<String>,
        /// The user's id in your own system.
        #[arg(long, value_name = "ID")]
        provided_id: Option<String>,
    },
    /// Delete a user.
    Delete {
        /// The user's id (kp_…).
        id: String,
    },
}

/// `portcullis orgs …`
#[derive(Subcommand)]
pub(crate) enum OrgsCommand {
    /// List organizations (one page, or every page with --all).
    List {
        #[command(flatten)]
        page: ListArgs,
    },
    /// Show one organization.
    Get {
        /// The organization's code (org_…).
        code: String,
    },
    /// Create an organization; the server chooses its code and the command prints it.
    Create {
        /// The organization's name.
        #[arg(long)]
        name: String,
        /// The organization's id in your own system.
        #[arg(long, value_name = "ID")]
        external_id: Option<String>,
    },
    /// Delete an organization.
    Delete {
        /// The organization's code (org_…).
        code: String,
    },
}

/// `portcullis roles …`
#[derive(Subcommand)]
pub(crate) enum RolesCommand {
    /// List roles (one page, or every page with --all).
    List {
        #[command(flatten)]
        page: ListArgs,
    },
    /// Show one role.
    Get {
        /// The role's id.
        id: String,
    },
    /// Create a role.
    Create {
        /// The role's key, as tokens carry it (e.g. admin).
        #[arg(long)]
        key: String,
        /// The role's name.
        #[arg(long)]
        name: String,
        /// What the role is for.
        #[arg(long)]
        description: Option<String>,
        /// Give the role to new organization members.
        #[arg(long = "default")]
        is_default: bool,
    },
    /// Delete a role.
    Delete {
        /// The role's id.
        id: String,
    },
}

/// `portcullis flags …`
#[derive(Subcommand)]
pub(crate) enum FlagsCommand {
    /// List the feature flags with their values in this environment.
    List,
    /// Create a feature flag.
    Create {
        /// The flag's key, as tokens carry it (e.g. theme).
        #[arg(long)]
        key: String,
        /// The flag's name.
        #[arg(long)]
        name: String,
        /// The flag's type.
        #[arg(long = "type", value_enum, value_name = "TYPE")]
        flag_type: FlagKind,
        /// The default value, of the flag's type: true/false, an integer, or any string.
        #[arg(long = "default", value_name = "VALUE", allow_hyphen_values = true)]
        default_value: String,
        /// What the flag is for.
        #[arg(long)]
        description: Option<String>,
        /// Down to which level the flag may be overridden (the server's default when not
        /// given).
        #[arg(long, value_enum, value_name = "LEVEL")]
        override_level: Option<Level>,
    },
    /// Delete a feature flag.
    Delete {
        /// The flag's key.
        key: String,
    },
}

/// A flag type, as the command line names it.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum FlagKind {
    /// true or false.
    Bool,
    /// A string.
    Str,
    /// An integer.
    Int,
}

/// An override level, as the command line names it.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Level {
    /// The environment only.
    Env,
    /// The environment and organizations.
    Org,
    /// The environment, organizations and users.
    Usr,
}

/// Runs `resource` and returns what to print on stdout.
pub(crate) async fn run(
    client: &ManagementClient,
    resource: Resource,
    as_json: bool,
) -> Result<String, CliError> {
    match resource {
        Resource::Users(command) => users(client, command, as_json).await,
        Resource::Orgs(command) => orgs(client, command, as_json).await,
        Resource::Roles(command) => roles(client, command, as_json).await,
        Resource::Flags(command) => flags(client, command, as_json).await,
    }
}

/// One page (or, with `--all`, every page) of a list: the items and the next page's token.
async fn list<T, F, Fut>(args: &ListArgs, mut fetch: F) -> Result<Page<T>, CliError>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: Future<Output = Result<Page<T>, ManagementError>>,
{
    let mut request = args.first_page();
    let mut page = fetch(request.clone()).await?;
    if !args.all {
        return Ok(page);
    }
    let mut items = std::mem::take(&mut page.items);
    let mut seen = HashSet::new();
    while let Some(next) = page.next_request(&request) {
        if !seen.insert(next.next_token.clone()) {
            return Err(CliError::PagingLoop);
        }
        page = fetch(next.clone()).await?;
        items.append(&mut page.items);
        request = next;
    }
    page.items = items;
    Ok(page)
}

/// The line that tells a table reader there are more items.
fn more_hint(next_token: Option<&str>) -> String {
    match next_token {
        Some(token) => format!("(more: --next-token {token}, or --all)\n"),
        None => String::new(),
    }
}

async fn users(
    client: &ManagementClient,
    command: UsersCommand,
    as_json: bool,
) -> Result<String, CliError> {
    match command {
        UsersCommand::List { page, email } => {
            let users = list(&page, |request| {
                let mut query = UsersQuery::new().page(request);
                query.email = email.clone();
                client.get_users(query)
            })
            .await?;
            if as_json {
                return json(&json!({"users": users.items, "next_token": users.next_token}));
            }
            let mut table = Table::new(&["ID", "EMAIL", "GIVEN NAME", "FAMILY NAME", "SUSPENDED"]);
            for user in &users.items {
                table.row(vec![
                    user.id.clone(),
                    cell(user.email()),
                    cell(user.first_name.as_deref()),
                    cell(user.last_name.as_deref()),
                    yes_no(user.is_suspended),
                ]);
            }
            Ok(table.render() + &more_hint(users.next_token.as_deref()))
        }
        UsersCommand::Get { id } => {
            let user = client.get_user(&id).await?;
            if as_json {
                return json(&user);
            }
            Ok(fields(&[
                ("id", user.id.clone()),
                ("email", cell(user.email())),
                ("given name", cell(user.first_name.as_deref())),
                ("family name", cell(user.last_name.as_deref())),
                ("provided id", cell(user.provided_id.as_deref())),
                ("suspended", yes_no(user.is_suspended)),
                ("organizations", user.organizations.join(", ")),
                ("created", cell(user.created_on.as_deref())),
                ("last signed in", cell(user.last_signed_in.as_deref())),
            ]))
        }
        UsersCommand::Create {
            email,
            given_name,
            family_name,
            org,
            provided_id,
        } => {
            let mut user = NewUser::new().email(email.clone());
            if let Some(name) = given_name {
                user = user.given_name(name);
            }
            if let Some(name) = family_name {
                user = user.family_name(name);
            }
            if let Some(code) = &org {
                user = user.organization_code(code.clone());
            }
            if let Some(id) = provided_id {
                user = user.provided_id(id);
            }
            let created = client.create_user_with(&user).await?;
            if as_json {
                return json(&json!({
                    "id": created.id,
                    "created": created.created,
                    "email": email,
                    "organization_code": org,
                    "identities": created.identities,
                }));
            }
            Ok(fields(&[
                ("id", created.id),
                ("email", email),
                ("organization", cell(org.as_deref())),
            ]))
        }
        UsersCommand::Delete { id } => {
            client.delete_user(&id).await?;
            deleted("user", "id", &id, as_json)
        }
    }
}

async fn orgs(
    client: &ManagementClient,
    command: OrgsCommand,
    as_json: bool,
) -> Result<String, CliError> {
    match command {
        OrgsCommand::List { page } => {
            let orgs = list(&page, |request| client.get_organizations(request)).await?;
            if as_json {
                return json(&json!({"organizations": orgs.items, "next_token": orgs.next_token}));
            }
            let mut table = Table::new(&["CODE", "NAME", "EXTERNAL ID", "CREATED"]);
            for org in &orgs.items {
                table.row(vec![
                    org.code.clone(),
                    cell(org.name.as_deref()),
                    cell(org.external_id.as_deref()),
                    cell(org.created_on.as_deref()),
                ]);
            }
            Ok(table.render() + &more_hint(orgs.next_token.as_deref()))
        }
        OrgsCommand::Get { code } => {
            let org = client.get_organization(&code).await?;
            if as_json {
                return json(&org);
            }
            Ok(fields(&[
                ("code", org.code.clone()),
                ("name", cell(org.name.as_deref())),
                ("handle", cell(org.handle.as_deref())),
                ("external id", cell(org.external_id.as_deref())),
                ("default", yes_no(org.is_default)),
                ("open to sign-up", yes_no(org.is_allow_registrations)),
                ("created", cell(org.created_on.as_deref())),
            ]))
        }
        OrgsCommand::Create { name, external_id } => {
            let mut org = NewOrganization::new(name.clone());
            if let Some(id) = &external_id {
                org = org.external_id(id.clone());
            }
            let created = client.create_organization_with(&org).await?;
            if as_json {
                return json(&json!({
                    "code": created.code,
                    "name": name,
                    "external_id": external_id,
                }));
            }
            Ok(fields(&[("code", created.code), ("name", name)]))
        }
        OrgsCommand::Delete { code } => {
            client.delete_organization(&code).await?;
            deleted("organization", "code", &code, as_json)
        }
    }
}

async fn roles(
    client: &ManagementClient,
    command: RolesCommand,
    as_json: bool,
) -> Result<String, CliError> {
    match command {
        RolesCommand::List { page } => {
            let roles = list(&page, |request| client.get_roles(request)).await?;
            if as_json {
                return json(&json!({"roles": roles.items, "next_token": roles.next_token}));
            }
            let mut table = Table::new(&["ID", "KEY", "NAME", "DEFAULT", "DESCRIPTION"]);
            for role in &roles.items {
                table.row(vec![
                    role.id.clone(),
                    cell(role.key.as_deref()),
                    cell(role.name.as_deref()),
                    yes_no(role.is_default_role),
                    cell(role.description.as_deref()),
                ]);
            }
            Ok(table.render() + &more_hint(roles.next_token.as_deref()))
        }
        RolesCommand::Get { id } => {
            let role = client.get_role(&id).await?;
            if as_json {
                return json(&role);
            }
            Ok(fields(&[
                ("id", role.id.clone()),
                ("key", cell(role.key.as_deref())),
                ("name", cell(role.name.as_deref())),
                ("description", cell(role.description.as_deref())),
                ("default", yes_no(role.is_default_role)),
            ]))
        }
        RolesCommand::Create {
            key,
            name,
            description,
            is_default,
        } => {
            let mut role = NewRole::new(name.clone(), key.clone());
            if let Some(text) = &description {
                role = role.description(text.clone());
            }
            if is_default {
                role = role.is_default_role(true);
            }
            let created = client.create_role_with(&role).await?;
            if as_json {
                return json(&json!({
                    "id": created.id,
                    "key": key,
                    "name": name,
                    "description": description,
                    "is_default_role": is_default,
                }));
            }
            Ok(fields(&[("id", created.id), ("key", key), ("name", name)]))
        }
        RolesCommand::Delete { id } => {
            client.delete_role(&id).await?;
            deleted("role", "id", &id, as_json)
        }
    }
}

/// The typed default value of a new flag, or why `value` is not of `kind`.
fn flag_value(kind: FlagKind, value: &str) -> Result<FlagValue, CliError> {
    match kind {
        FlagKind::Str => Ok(FlagValue::String(value.to_owned())),
        FlagKind::Bool => match value {
            "true" => Ok(FlagValue::Bool(true)),
            "false" => Ok(FlagValue::Bool(false)),
            _ => Err(CliError::Usage(format!(
                "--default {value:?} is not a bool: use true or false"
            ))),
        },
        FlagKind::Int => value
            .trim()
            .parse::<i64>()
            .map(FlagValue::Integer)
            .map_err(|_| CliError::Usage(format!("--default {value:?} is not an integer"))),
    }
}

async fn flags(
    client: &ManagementClient,
    command: FlagsCommand,
    as_json: bool,
) -> Result<String, CliError> {
    match command {
        FlagsCommand::List => {
            let flags = client.get_feature_flags().await?;
            if as_json {
                return json(&json!({"feature_flags": flags}));
            }
            let mut table = Table::new(&["KEY", "TYPE", "VALUE"]);
            for (key, flag) in &flags {
                table.row(vec![
                    key.clone(),
                    cell(flag.flag_type.as_deref()),
                    cell(flag.value.as_deref()),
                ]);
            }
            Ok(table.render())
        }
        FlagsCommand::Create {
            key,
            name,
            flag_type,
            default_value,
            description,
            override_level,
        } => {
            let value = flag_value(flag_type, &default_value)?;
            let mut flag = NewFeatureFlag::new(key, name, value)?;
            if let Some(text) = description {
                flag = flag.description(text);
            }
            if let Some(level) = override_level {
                flag = flag.allow_override_level(match level {
                    Level::Env => OverrideLevel::Environment,
                    Level::Org => OverrideLevel::Organization,
                    Level::Usr => OverrideLevel::User,
                });
            }
            client.create_feature_flag_with(&flag).await?;
            if as_json {
                return json(&flag);
            }
            Ok(fields(&[
                ("key", flag.key.clone()),
                ("name", flag.name.clone()),
                ("type", flag.flag_type.as_str().to_owned()),
                ("default", flag.default_value.clone()),
            ]))
        }
        FlagsCommand::Delete { key } => {
            client.delete_feature_flag(&key).await?;
            deleted("feature flag", "key", &key, as_json)
        }
    }
}

/// What a delete prints: `{"deleted": true, "<field>": "<value>"}` or a sentence.
fn deleted(what: &str, field: &str, value: &str, as_json: bool) -> Result<String, CliError> {
    if as_json {
        let mut body = serde_json::Map::new();
        body.insert("deleted".to_owned(), serde_json::Value::Bool(true));
        body.insert(
            field.to_owned(),
            serde_json::Value::String(value.to_owned()),
        );
        return json(&body);
    }
    Ok(super::output::clean(&format!("deleted {what} {value}\n")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_defaults_must_be_of_the_type() {
        assert_eq!(
            flag_value(FlagKind::Bool, "true").ok(),
            Some(FlagValue::Bool(true))
        );
        assert!(flag_value(FlagKind::Bool, "yes").is_err());
        assert_eq!(
            flag_value(FlagKind::Int, "-42").ok(),
            Some(FlagValue::Integer(-42))
        );
        assert!(flag_value(FlagKind::Int, "4.2").is_err());
        assert_eq!(
            flag_value(FlagKind::Str, "pink").ok(),
            Some(FlagValue::String("pink".into()))
        );
    }

    #[test]
    fn all_starts_with_large_pages() {
        let args = ListArgs {
            page_size: None,
            all: true,
            next_token: None,
        };
        assert_eq!(args.first_page().page_size, Some(ALL_PAGE_SIZE));
        let args = ListArgs {
            page_size: Some(3),
            all: false,
            next_token: Some("t".into()),
        };
        let page = args.first_page();
        assert_eq!(page.page_size, Some(3));
        assert_eq!(page.next_token.as_deref(), Some("t"));
    }
}

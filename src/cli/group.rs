//! `lease group`: the groups of a lockspace's name index, for operators:
//! list them, see who is a member and who leads, create and delete them.
//! Joining is for programs (the socket's group calls): a member is the
//! process that joined, and a command line exits at once.

use clap::{Args, Subcommand};

use super::client::{connect, parse_named};
use super::exit;
use super::index::ListArgs;
use super::output::{Failure, print, print_either, print_json, table};
use crate::api::results::{GroupReply, GroupsReply};
use crate::api::{GroupArgs, IndexList, Request};

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// List the groups of a lockspace
    List(ListArgs),
    /// Show a group's members, their capabilities, and its leader
    Members(GroupName),
    /// Create a group
    Create(GroupName),
    /// Delete a group without members or leader
    Delete(GroupName),
}

#[derive(Debug, Args)]
pub struct GroupName {
    /// The group, 1 to 256 bytes
    #[arg(value_name = "LOCKSPACE:GROUP", value_parser = parse_named)]
    group: (String, String),
    /// Print JSON
    #[arg(long)]
    json: bool,
}

impl GroupName {
    fn args(&self) -> GroupArgs {
        let (lockspace, group) = self.group.clone();
        GroupArgs { lockspace, group, member: String::new() }
    }
}

pub fn run(command: &GroupCommand) -> Result<u8, Failure> {
    match command {
        GroupCommand::List(args) => {
            let request = Request::GroupList(IndexList { lockspace: args.lockspace.clone() });
            let reply: GroupsReply = call(request, args.json)?;
            if args.json {
                return print_json(&reply).map(|()| exit::OK);
            }
            print(&reply.groups.iter().map(|g| format!("{g}\n")).collect::<String>())?;
        }
        GroupCommand::Members(name) => {
            let reply: GroupReply = call(Request::GroupMembers(name.args()), name.json)?;
            report_members(&reply, name.json)?;
        }
        GroupCommand::Create(name) => {
            let reply: GroupReply = call(Request::GroupCreate(name.args()), name.json)?;
            print_either(name.json, &reply, &format!("created group {}\n", reply.group))?;
        }
        GroupCommand::Delete(name) => {
            let reply: GroupReply = call(Request::GroupDelete(name.args()), name.json)?;
            print_either(name.json, &reply, &format!("deleted group {}\n", reply.group))?;
        }
    }
    Ok(exit::OK)
}

fn call<T: serde::de::DeserializeOwned>(request: Request, json: bool) -> Result<T, Failure> {
    let mut client = connect(json)?;
    client.call(request).map_err(|e| Failure::client(&e).json(json))
}

fn report_members(reply: &GroupReply, json: bool) -> Result<(), Failure> {
    if json {
        return print_json(reply);
    }
    let leader = reply.leader.as_deref();
    let rows: Vec<Vec<String>> = reply
        .members
        .iter()
        .map(|m| {
            let leads = if leader == Some(m.member.as_str()) { "yes" } else { "" };
            vec![
                m.member.clone(),
                m.host_id.to_string(),
                leads.to_owned(),
                m.capabilities.to_string(),
            ]
        })
        .collect();
    let mut text = table(&["MEMBER", "HOST_ID", "LEADER", "CAPABILITIES"], &rows);
    if let Some(leader) = leader.filter(|l| !reply.members.iter().any(|m| m.member == *l)) {
        text.push_str(&format!("leader: {leader} (not a member)\n"));
    }
    print(&text)
}

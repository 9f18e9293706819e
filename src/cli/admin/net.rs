//! Talking to name servers and brokers: one cached connection per address, every answer that is
//! not SUCCESS turned into an error carrying the server's remark.
use ferrocket::client::RawClient;
use ferrocket::codec::body::{BrokerData, ClusterInfo, TopicRouteData};
use ferrocket::codec::codes::RequestCode;
use ferrocket::codec::RemotingCommand;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

/// A failed command: the message printed to stderr.
#[derive(Debug)]
pub struct Failure(pub String);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure(e.to_string())
    }
}

pub type Res<T> = Result<T, Failure>;

/// Connections of one admin run.
pub struct Net {
    namesrv: Vec<String>,
    timeout: Duration,
    conns: tokio::sync::Mutex<HashMap<String, std::sync::Arc<RawClient>>>,
    /// ACL (access key, secret key): every request is signed when set.
    pub credentials: Option<(String, String)>,
}

/// A request with a code and no header.
pub fn request(code: RequestCode) -> RemotingCommand {
    RemotingCommand::request(code.as_i32(), 0)
}

impl Net {
    pub fn new(namesrv: &str, timeout: Duration) -> Net {
        let namesrv = namesrv.split(';').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect();
        Net { namesrv, timeout, conns: Default::default(), credentials: None }
    }

    async fn conn(&self, addr: &str) -> Res<std::sync::Arc<RawClient>> {
        let mut conns = self.conns.lock().await;
        if let Some(c) = conns.get(addr).filter(|c| !c.is_closed()) {
            return Ok(c.clone());
        }
        let sock: SocketAddr = match addr.parse() {
            Ok(s) => s,
            Err(_) => tokio::net::lookup_host(addr)
                .await
                .map_err(|e| Failure(format!("cannot resolve {addr}: {e}")))?
                .next()
                .ok_or_else(|| Failure(format!("cannot resolve {addr}")))?,
        };
        let c = tokio::time::timeout(self.timeout, RawClient::connect(sock))
            .await
            .map_err(|_| Failure(format!("connect to {addr} timed out")))?
            .map_err(|e| Failure(format!("cannot connect to {addr}: {e}")))?;
        if let Some((ak, sk)) = &self.credentials {
            c.set_credentials(ak, sk);
        }
        let c = std::sync::Arc::new(c);
        conns.insert(addr.to_string(), c.clone());
        Ok(c)
    }

    /// Send and return whatever came back.
    pub async fn raw(&self, addr: &str, cmd: RemotingCommand) -> Res<RemotingCommand> {
        let c = self.conn(addr).await?;
        c.request(cmd, self.timeout).await.map_err(|e| Failure(format!("{addr}: {e}")))
    }

    /// Send and require SUCCESS.
    pub async fn call(&self, addr: &str, cmd: RemotingCommand) -> Res<RemotingCommand> {
        let resp = self.raw(addr, cmd).await?;
        ok(addr, resp)
    }

    /// Ask the name servers in turn; the first that answers wins.
    pub async fn namesrv_call(&self, cmd: RemotingCommand) -> Res<RemotingCommand> {
        let mut last = Failure("no name server given: use -n host:port".into());
        for a in &self.namesrv {
            match self.raw(a, cmd.clone()).await {
                Ok(r) => return ok(a, r),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Every name server (for writes that must reach all of them).
    pub fn namesrvs(&self) -> &[String] {
        &self.namesrv
    }

    pub async fn route(&self, topic: &str) -> Res<TopicRouteData> {
        let r = self.namesrv_call(request(RequestCode::GetRouteinfoByTopic).with_ext("topic", topic)).await?;
        Ok(TopicRouteData::from_json(&r.body)?)
    }

    pub async fn cluster_info(&self) -> Res<ClusterInfo> {
        let r = self.namesrv_call(request(RequestCode::GetBrokerClusterInfo)).await?;
        Ok(ClusterInfo::from_json(&r.body)?)
    }

    /// Master addresses of a cluster (broker name, address).
    pub async fn cluster_masters(&self, cluster: &str) -> Res<Vec<(String, String)>> {
        let info = self.cluster_info().await?;
        let names = info.cluster_addr_table.get(cluster).ok_or_else(|| Failure(format!("cluster [{cluster}] not found")))?;
        Ok(names
            .iter()
            .filter_map(|n| info.broker_addr_table.get(n))
            .filter_map(|b| master(b).map(|a| (b.broker_name.clone(), a)))
            .collect())
    }

    /// Brokers from `-b` (one address) or `-c` (every master of a cluster).
    pub async fn targets(&self, broker: Option<&str>, cluster: Option<&str>) -> Res<Vec<String>> {
        match (broker, cluster) {
            (Some(b), _) => Ok(vec![b.to_string()]),
            (None, Some(c)) => Ok(self.cluster_masters(c).await?.into_iter().map(|(_, a)| a).collect()),
            (None, None) => Err(Failure("give a broker with -b host:port or a cluster with -c name".into())),
        }
    }
}

/// The master's address of a broker set (the lowest id when no master is registered).
pub fn master(b: &BrokerData) -> Option<String> {
    b.broker_addrs.get(&0).or_else(|| b.broker_addrs.values().next()).cloned()
}

/// SUCCESS, or a failure naming the address, code and remark.
pub fn ok(addr: &str, r: RemotingCommand) -> Res<RemotingCommand> {
    if r.code == 0 {
        Ok(r)
    } else {
        Err(Failure(format!("{addr}: code {}: {}", r.code, r.remark.as_deref().unwrap_or(""))))
    }
}

/// Masters of a topic's route: (broker name, address).
pub fn route_masters(route: &TopicRouteData) -> Vec<(String, String)> {
    route.broker_datas.iter().filter_map(|b| master(b).map(|a| (b.broker_name.clone(), a))).collect()
}

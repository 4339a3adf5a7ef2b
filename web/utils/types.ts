// The API's JSON, as internal/api declares it.

export interface Project {
  id: string; name: string; url: string; port: number; health_path?: string
  memory_mib: number; vcpus: number; min_instances_per_region: number
  live_deployment?: string; created_at: string; repo?: string; production_branch?: string
  root_dir?: string; dockerfile?: string; regions?: string[]
  hsts_max_age: number; https_redirect_versioned: boolean
}
export interface Instance {
  id: string; region: string; node?: string; desired: string; state: string; reason?: string
  address?: string; restarts: number; updated_at: string; boot_timings?: Record<string, number>
}
export interface Deployment {
  id: string; project: string; image: string; status: string; reason?: string; live: boolean
  preview?: boolean; url: string; instances?: Instance[]; created_at: string; ready_at?: string
}
export interface Build {
  id: string; project: string; source: string; commit?: string; branch?: string; commit_message?: string
  status: string; reason?: string; deployment?: string; created_at: string; image?: string
}
export interface Node {
  id: string; region: string; hostname: string; driver: string; accel: string; state: string
  instances: number; last_heartbeat: string; drained?: boolean
  capacity?: { vcpus: number; memory_mib: number; disk_gib?: number }
  used?: { vcpus: number; memory_mib: number; disk_gib?: number }
}
export interface Status {
  version: string; apps_domain: string; nodes: Node[]; projects: Project[]; recent_deployments: Deployment[]
  builds?: Build[]
}
export interface LogLine { instance: string; stream: string; time: string; text: string }
export interface EnvVar { name: string; updated_at?: string }
export interface Member { email: string; role: string; installation_admin?: boolean; since: string }
export interface Invitation { id?: string; organisation: string; email: string; role: string; token?: string; expires_at: string; mailed?: boolean; mail_error?: string }
export interface Token {
  id: string; name: string; organisation?: string; role?: string; projects?: string[]; created_at: string
  expires_at?: string; revoked_at?: string; last_used_at?: string; last_used_addr?: string; token?: string
}
export interface AuditEntry {
  id: number; time: string; actor: { kind: string; role?: string; user?: string; token?: string }
  action: string; object_kind?: string; object?: string; project?: string; method: string; path: string
  client_addr?: string; status: number; error?: string
}
export interface Domain {
  name: string; project: string; status: string; reason?: string; routed: boolean
  redirect_to?: string; records: { name: string; type: string; value: string }[]
  verified_at?: string; checked_at?: string; certificate?: { status?: string; reason?: string }
}
/** DeploymentEvent is one entry of GET /v1/deployments/{id}/events. */
export interface DeploymentEvent {
  id?: number | string; time?: string; at?: string; kind?: string; type?: string; stage?: string
  message?: string; text?: string; reason?: string; instance?: string; state?: string
}

/** GitHubRepo is a repository the GitHub App reaches for the user. */
export interface GitHubRepo { full_name: string; private: boolean; default_branch: string }

# Security groups: only the ports each part needs, from where it needs them.
#
#   clients  ──9092──►  load balancer  ──9092, 9644 (health)──►  brokers
#   clients  ──9092──────────────────────────────────────────►  brokers  (after Metadata)
#
# (9092 is kafka_port, whatever security_protocol its listener has.)
#   brokers  ──2379──►  etcd;  etcd ◄──2379, 2380──► etcd
#   brokers, etcd ──443──► S3, downloads (and Session Manager)
#
# No SSH anywhere. Egress to 443 is open to any address because S3's public
# endpoints have no fixed addresses; with s3_gateway_endpoint_route_table_ids
# object traffic stays inside the VPC.

resource "aws_security_group" "nlb" {
  name_prefix = "${var.name}-nlb-"
  description = "Strata ${var.name} bootstrap load balancer: Kafka from the clients"
  vpc_id      = var.vpc_id
  tags        = merge(local.tags, { Name = "${var.name}-nlb" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_security_group" "broker" {
  name_prefix = "${var.name}-broker-"
  description = "Strata ${var.name} brokers: Kafka from clients and the load balancer"
  vpc_id      = var.vpc_id
  tags        = merge(local.tags, { Name = "${var.name}-broker" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_security_group" "etcd" {
  name_prefix = "${var.name}-etcd-"
  description = "Strata ${var.name} etcd members: clients from the brokers, peers from each other"
  vpc_id      = var.vpc_id
  tags        = merge(local.tags, { Name = "${var.name}-etcd" })

  lifecycle {
    create_before_destroy = true
  }
}

# Load balancer

resource "aws_vpc_security_group_ingress_rule" "nlb_kafka_from_clients" {
  for_each          = toset(var.client_cidr_blocks)
  security_group_id = aws_security_group.nlb.id
  description       = "Kafka bootstrap from clients"
  ip_protocol       = "tcp"
  from_port         = var.kafka_port
  to_port           = var.kafka_port
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_egress_rule" "nlb_kafka_to_brokers" {
  security_group_id            = aws_security_group.nlb.id
  description                  = "Kafka to the brokers"
  ip_protocol                  = "tcp"
  from_port                    = var.kafka_port
  to_port                      = var.kafka_port
  referenced_security_group_id = aws_security_group.broker.id
}

resource "aws_vpc_security_group_egress_rule" "nlb_health_to_brokers" {
  security_group_id            = aws_security_group.nlb.id
  description                  = "Health checks of /readyz on the brokers"
  ip_protocol                  = "tcp"
  from_port                    = var.http_port
  to_port                      = var.http_port
  referenced_security_group_id = aws_security_group.broker.id
}

# Brokers

resource "aws_vpc_security_group_ingress_rule" "broker_kafka_from_nlb" {
  security_group_id            = aws_security_group.broker.id
  description                  = "Kafka through the bootstrap load balancer"
  ip_protocol                  = "tcp"
  from_port                    = var.kafka_port
  to_port                      = var.kafka_port
  referenced_security_group_id = aws_security_group.nlb.id
}

# The load balancer keeps the clients' addresses, and clients connect to
# each broker's advertised address directly after their first Metadata.
resource "aws_vpc_security_group_ingress_rule" "broker_kafka_from_clients" {
  for_each          = toset(var.client_cidr_blocks)
  security_group_id = aws_security_group.broker.id
  description       = "Kafka from clients"
  ip_protocol       = "tcp"
  from_port         = var.kafka_port
  to_port           = var.kafka_port
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_ingress_rule" "broker_health_from_nlb" {
  security_group_id            = aws_security_group.broker.id
  description                  = "Load balancer health checks"
  ip_protocol                  = "tcp"
  from_port                    = var.http_port
  to_port                      = var.http_port
  referenced_security_group_id = aws_security_group.nlb.id
}

resource "aws_vpc_security_group_ingress_rule" "broker_http_from_metrics" {
  for_each          = toset(var.metrics_cidr_blocks)
  security_group_id = aws_security_group.broker.id
  description       = "Prometheus scrapes and health checks"
  ip_protocol       = "tcp"
  from_port         = var.http_port
  to_port           = var.http_port
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_egress_rule" "broker_to_etcd" {
  security_group_id            = aws_security_group.broker.id
  description                  = "etcd clients"
  ip_protocol                  = "tcp"
  from_port                    = 2379
  to_port                      = 2379
  referenced_security_group_id = aws_security_group.etcd.id
}

resource "aws_vpc_security_group_egress_rule" "broker_https" {
  security_group_id = aws_security_group.broker.id
  description       = "S3, the binary download, Session Manager"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

# etcd

resource "aws_vpc_security_group_ingress_rule" "etcd_clients_from_brokers" {
  security_group_id            = aws_security_group.etcd.id
  description                  = "etcd clients: the brokers"
  ip_protocol                  = "tcp"
  from_port                    = 2379
  to_port                      = 2379
  referenced_security_group_id = aws_security_group.broker.id
}

resource "aws_vpc_security_group_ingress_rule" "etcd_from_members" {
  security_group_id            = aws_security_group.etcd.id
  description                  = "etcd peers and member-to-member clients (etcdctl)"
  ip_protocol                  = "tcp"
  from_port                    = 2379
  to_port                      = 2380
  referenced_security_group_id = aws_security_group.etcd.id
}

resource "aws_vpc_security_group_egress_rule" "etcd_to_members" {
  security_group_id            = aws_security_group.etcd.id
  description                  = "etcd peers and member-to-member clients (etcdctl)"
  ip_protocol                  = "tcp"
  from_port                    = 2379
  to_port                      = 2380
  referenced_security_group_id = aws_security_group.etcd.id
}

resource "aws_vpc_security_group_egress_rule" "etcd_https" {
  security_group_id = aws_security_group.etcd.id
  description       = "The etcd download, package updates, Session Manager"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

# S3 through the VPC's route tables instead of the NAT gateway.
resource "aws_vpc_endpoint" "s3" {
  count             = length(var.s3_gateway_endpoint_route_table_ids) > 0 ? 1 : 0
  vpc_id            = var.vpc_id
  service_name      = "com.amazonaws.${local.region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = var.s3_gateway_endpoint_route_table_ids
  tags              = merge(local.tags, { Name = "${var.name}-s3" })
}

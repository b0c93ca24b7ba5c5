# The bootstrap address of the cluster: clients connect here for their first
# Metadata and then to the brokers' advertised addresses. Only brokers that
# answer /readyz receive connections. The load balancer passes TCP through:
# TLS (security_protocol SSL or SASL_SSL) ends on the brokers, so the
# certificate must name the load balancer too.

resource "aws_lb" "bootstrap" {
  name                             = "${var.name}-bootstrap"
  load_balancer_type               = "network"
  internal                         = var.nlb_internal
  subnets                          = local.nlb_subnet_ids
  security_groups                  = [aws_security_group.nlb.id]
  enable_cross_zone_load_balancing = true
  enable_deletion_protection       = var.deletion_protection
  tags                             = local.tags
}

resource "aws_lb_target_group" "kafka" {
  name                 = "${var.name}-kafka"
  port                 = var.kafka_port
  protocol             = "TCP"
  target_type          = "instance"
  vpc_id               = var.vpc_id
  deregistration_delay = 30
  tags                 = local.tags

  health_check {
    protocol            = var.http_tls ? "HTTPS" : "HTTP"
    port                = tostring(var.http_port)
    path                = "/readyz"
    matcher             = "200"
    interval            = 10
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }
}

resource "aws_lb_listener" "kafka" {
  load_balancer_arn = aws_lb.bootstrap.arn
  port              = var.kafka_port
  protocol          = "TCP"
  tags              = local.tags

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.kafka.arn
  }
}

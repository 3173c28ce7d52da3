// Package actuators builds the actuator a tenant's spark.cluster configures and holds those
// that need AWS: an Auto Scaling group (with the EC2 lookup of its instances) and EKS (the
// cluster's endpoint from eks:DescribeCluster, a token signed for STS). It is apart from
// package scaling so that only the scaler, which applies decisions, links the Auto Scaling, EC2
// and EKS clients; the API decides and sends the decision to the scaler.
package actuators

"""AWS deployment of the controller: CloudFormation template, IAM policy and the Lambda handlers."""
